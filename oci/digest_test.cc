#include "oci/digest.h"

#include "gtest/gtest.h"

namespace kiln::oci {
namespace {

TEST(DigestTest, OfKnownInput) {
  EXPECT_EQ(Digest::Of("").str(),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Digest::Of("abc").str(),
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(DigestTest, StreamingEqualsOneShot) {
  Sha256 h;
  h.Update("a");
  h.Update("bc");
  EXPECT_EQ(h.Finish(), Digest::Of("abc"));
}

TEST(DigestTest, ParseValid) {
  auto d = Digest::Parse("sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->algorithm(), "sha256");
  EXPECT_EQ(d->Short(), "sha256:ba7816bf8f01");
}

TEST(DigestTest, ParseRejectsPathTricks) {
  for (const char* bad : {
           "sha256:../../../../etc/passwd",
           "sha256:BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD",
           "sha256:ba7816bf",
           "md5:d41d8cd98f00b204e9800998ecf8427e",
           "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
           "",
           "sha256:",
       }) {
    EXPECT_FALSE(Digest::Parse(bad).ok()) << bad;
  }
}

TEST(DigestTest, ErrorNamesTheProblem) {
  EXPECT_EQ(Digest::Parse("sha256:abc").status().message(),
            "invalid digest \"sha256:abc\": want 64 hex digits");
}

}  // namespace
}  // namespace kiln::oci
