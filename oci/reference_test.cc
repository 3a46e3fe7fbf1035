#include "oci/reference.h"

#include "gtest/gtest.h"

namespace kiln::oci {
namespace {

struct Case {
  const char* input;
  const char* domain;
  const char* path;
  const char* string;
  const char* familiar;
};

TEST(ReferenceTest, NormalizesLikeDocker) {
  const Case cases[] = {
      {"busybox", "docker.io", "library/busybox", "docker.io/library/busybox:latest",
       "busybox:latest"},
      {"busybox:1.36", "docker.io", "library/busybox", "docker.io/library/busybox:1.36",
       "busybox:1.36"},
      {"me/app", "docker.io", "me/app", "docker.io/me/app:latest", "me/app:latest"},
      {"docker.io/library/ubuntu:22.04", "docker.io", "library/ubuntu",
       "docker.io/library/ubuntu:22.04", "ubuntu:22.04"},
      {"index.docker.io/library/ubuntu", "docker.io", "library/ubuntu",
       "docker.io/library/ubuntu:latest", "ubuntu:latest"},
      {"localhost:5000/a/b:t", "localhost:5000", "a/b", "localhost:5000/a/b:t",
       "localhost:5000/a/b:t"},
      {"localhost/app", "localhost", "app", "localhost/app:latest", "localhost/app:latest"},
      {"ghcr.io/o/r-x_y.z__w", "ghcr.io", "o/r-x_y.z__w", "ghcr.io/o/r-x_y.z__w:latest",
       "ghcr.io/o/r-x_y.z__w:latest"},
      {"[::1]:5000/x", "[::1]:5000", "x", "[::1]:5000/x:latest", "[::1]:5000/x:latest"},
      {"docker.io/docker.io/tt", "docker.io", "docker.io/tt", "docker.io/docker.io/tt:latest",
       "docker.io/docker.io/tt:latest"},
      {"Registry.Example/x", "Registry.Example", "x", "Registry.Example/x:latest",
       "Registry.Example/x:latest"},
  };
  for (const Case& c : cases) {
    auto ref = Reference::Parse(c.input);
    ASSERT_TRUE(ref.ok()) << c.input << ": " << ref.status();
    EXPECT_EQ(ref->domain(), c.domain) << c.input;
    EXPECT_EQ(ref->path(), c.path) << c.input;
    EXPECT_EQ(ref->String(), c.string) << c.input;
    EXPECT_EQ(ref->Familiar(), c.familiar) << c.input;
  }
}

TEST(ReferenceTest, Digests) {
  const std::string hex = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
  auto ref = Reference::Parse("busybox@sha256:" + hex);
  ASSERT_TRUE(ref.ok());
  EXPECT_TRUE(ref->tag().empty());
  EXPECT_EQ(ref->String(), "docker.io/library/busybox@sha256:" + hex);
  EXPECT_EQ(ref->TagOrDefault(), "");
  auto both = Reference::Parse("busybox:1@sha256:" + hex);
  ASSERT_TRUE(both.ok());
  EXPECT_EQ(both->Familiar(), "busybox:1@sha256:" + hex);
}

TEST(ReferenceTest, Rejects) {
  for (const char* bad : {"", "Busybox", "a//b", "-a", "a-", "a:", "a:-tag", "a@sha256:12", ":tag",
                          "a/b:"
                          "ttttttttttttttttttttttttttttttttttttttttttttttttttttttttt"
                          "ttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttt"
                          "ttttttttttttttttt",
                          "a..b", "a___b", "host:port/x", "-host.io/x"}) {
    EXPECT_FALSE(Reference::Parse(bad).ok()) << bad;
  }
}

TEST(ReferenceTest, ErrorMessage) {
  EXPECT_EQ(Reference::Parse("Busybox").status().message(),
            "invalid reference \"Busybox\": repository name must be lowercase");
}

TEST(ReferenceTest, TagGrammar) {
  EXPECT_TRUE(IsValidTag("v1.2.3-rc_1"));
  EXPECT_TRUE(IsValidTag("_x"));
  EXPECT_FALSE(IsValidTag(".x"));
  EXPECT_FALSE(IsValidTag(std::string(129, 'a')));
}

}  // namespace
}  // namespace kiln::oci
