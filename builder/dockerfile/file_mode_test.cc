#include "builder/dockerfile/file_mode.h"

#include "gtest/gtest.h"

namespace kiln::builder::dockerfile {
namespace {

mode_t Applied(const std::string& text, mode_t from, bool is_dir = false) {
  auto mode = FileMode::Parse(text);
  EXPECT_TRUE(mode.ok()) << text << ": " << mode.status();
  return mode.ok() ? mode->Apply(from, is_dir) : 0;
}

TEST(FileModeTest, Octal) {
  auto mode = FileMode::Parse("755");
  ASSERT_TRUE(mode.ok());
  EXPECT_EQ(mode->octal(), 0755u);
  EXPECT_EQ(mode->Apply(0600, false), 0755u);
  EXPECT_EQ(Applied("0", 0644), 0u);
  EXPECT_EQ(Applied("07777", 0), 07777u);
}

TEST(FileModeTest, BadOctalGetsBuildKitsMessage) {
  for (const char* text : {"64a", "10000", "8", "0x7"}) {
    auto mode = FileMode::Parse(text);
    ASSERT_FALSE(mode.ok()) << text;
    EXPECT_EQ(mode.status().message(), std::string("invalid chmod parameter: '") + text +
                                           "'. it should be octal string and between 0 and 07777");
  }
}

// The cases chmod(1) gives these results for (checked with coreutils and busybox chmod).
TEST(FileModeTest, Symbolic) {
  EXPECT_FALSE(FileMode::Parse("go-w")->octal());
  EXPECT_EQ(Applied("go-w", 0666), 0644u);
  EXPECT_EQ(Applied("u=rw,g=r,o=r", 0777), 0644u);
  EXPECT_EQ(Applied("a+X", 0666), 0666u);        // a file without x stays without
  EXPECT_EQ(Applied("a+X", 0744), 0755u);        // with one x bit, all get it
  EXPECT_EQ(Applied("a+X", 0124, true), 0135u);  // a directory always
  EXPECT_EQ(Applied("go-w", 0124, true), 0104u);
  EXPECT_EQ(Applied("u+rw,g+r,o-x,o+w", 0124, true), 0766u);
  EXPECT_EQ(Applied("+x", 0644), 0755u);  // no class: all
  EXPECT_EQ(Applied("u+s,g+s", 0755), 06755u);
  EXPECT_EQ(Applied("o+s", 0755), 0755u);  // set-id bits need u or g
  EXPECT_EQ(Applied("+t", 0755, true), 01755u);
  EXPECT_EQ(Applied("u+t", 0755, true), 0755u);  // sticky goes with o
  EXPECT_EQ(Applied("g=u", 0740), 0770u);
  EXPECT_EQ(Applied("o=g-w", 0764), 0764u & ~07u | 04u);
  EXPECT_EQ(Applied("u=", 04755), 0055u);  // = clears what is not given
  EXPECT_EQ(Applied("a=rwx,o-rwx", 0), 0770u);
  EXPECT_EQ(Applied("ug+w-x", 0755), 0665u);  // several actions in a clause
}

TEST(FileModeTest, BadSymbolic) {
  for (const char* text : {"", "u", "u+q", "z+x", "u+x,", ",u+x", "u+x g-w", "+ux"}) {
    auto mode = FileMode::Parse(text);
    ASSERT_FALSE(mode.ok()) << text;
    EXPECT_NE(mode.status().message().find("invalid chmod parameter"), std::string::npos);
  }
  EXPECT_FALSE(FileMode::Parse(std::string(300, 'u')).ok());
}

}  // namespace
}  // namespace kiln::builder::dockerfile
