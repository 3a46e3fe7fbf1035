#include "base/glob.h"

#include "gtest/gtest.h"

namespace kiln {
namespace {

bool M(absl::string_view p, absl::string_view t, bool path = false) {
  auto r = GlobMatch(p, t, path);
  EXPECT_TRUE(r.ok()) << p;
  return r.ok() && *r;
}

TEST(GlobTest, Basics) {
  EXPECT_TRUE(M("abc", "abc"));
  EXPECT_FALSE(M("abc", "abd"));
  EXPECT_TRUE(M("a*", "abc"));
  EXPECT_TRUE(M("*c", "abc"));
  EXPECT_TRUE(M("a*b*c", "axxbyyc"));
  EXPECT_FALSE(M("a*b*c", "axxbyy"));
  EXPECT_TRUE(M("a?c", "abc"));
  EXPECT_TRUE(M("[a-c]x", "bx"));
  EXPECT_FALSE(M("[!a-c]x", "bx"));
  EXPECT_TRUE(M("[^a-c]x", "dx"));
  EXPECT_TRUE(M("\\*", "*"));
  EXPECT_FALSE(M("\\*", "x"));
  EXPECT_TRUE(M("[]]", "]"));
  EXPECT_TRUE(M("*", ""));
  EXPECT_TRUE(M("", ""));
}

TEST(GlobTest, PathModeStopsAtSlash) {
  EXPECT_TRUE(M("a/*", "a/b"));
  EXPECT_FALSE(M("*", "a/b", true));
  EXPECT_TRUE(M("*", "a/b", false));
  EXPECT_FALSE(M("a?b", "a/b", true));
  EXPECT_FALSE(M("a[/]b", "a/b", true));
  EXPECT_TRUE(M("*/*.go", "dir/x.go", true));
}

TEST(GlobTest, BadPatterns) {
  EXPECT_FALSE(GlobMatch("[abc", "a").ok());
  EXPECT_FALSE(GlobMatch("abc\\", "abc").ok());
  EXPECT_FALSE(GlobMatch("x[", "y").ok());
  EXPECT_EQ(GlobMatch("[z-a]", "b").status().message(), "syntax error in pattern");
}

}  // namespace
}  // namespace kiln
