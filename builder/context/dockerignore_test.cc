#include "builder/context/dockerignore.h"

#include "gtest/gtest.h"

namespace kiln::builder::context {
namespace {

DockerIgnore Ignore(absl::string_view content) {
  auto d = DockerIgnore::Parse(content);
  EXPECT_TRUE(d.ok()) << d.status();
  return *d;
}

TEST(DockerIgnoreTest, DockerSemantics) {
  DockerIgnore d = Ignore(R"(# comment
*.md
!README.md
/build
./tmp/
**/*.o
docs/**/draft-*
node_modules
!node_modules/keep
 spaced 
a?c
[xy]z
)");
  EXPECT_TRUE(d.Excluded("CHANGES.md"));
  EXPECT_FALSE(d.Excluded("README.md"));
  EXPECT_FALSE(d.Excluded("sub/CHANGES.md"));  // * does not cross '/'
  EXPECT_TRUE(d.Excluded("build"));
  EXPECT_TRUE(d.Excluded("build/out/x"));  // parents match
  EXPECT_TRUE(d.Excluded("tmp/x"));
  EXPECT_TRUE(d.Excluded("x.o"));
  EXPECT_TRUE(d.Excluded("a/b/c/x.o"));
  EXPECT_TRUE(d.Excluded("docs/draft-1"));
  EXPECT_TRUE(d.Excluded("docs/a/b/draft-1"));
  EXPECT_FALSE(d.Excluded("docs/final"));
  EXPECT_TRUE(d.Excluded("node_modules/x/y"));
  EXPECT_FALSE(d.Excluded("node_modules/keep"));
  EXPECT_TRUE(d.MayIncludeBelow("node_modules"));
  EXPECT_FALSE(d.MayIncludeBelow("build"));
  EXPECT_TRUE(d.Excluded("spaced"));
  EXPECT_TRUE(d.Excluded("abc"));
  EXPECT_TRUE(d.Excluded("yz"));
  EXPECT_FALSE(d.Excluded("src/main.c"));
}

TEST(DockerIgnoreTest, LastMatchWins) {
  DockerIgnore d = Ignore("!keep\n*\n");
  EXPECT_TRUE(d.Excluded("keep"));
  DockerIgnore e = Ignore("*\n!keep\n");
  EXPECT_FALSE(e.Excluded("keep"));
  EXPECT_TRUE(e.Excluded("other"));
}

TEST(DockerIgnoreTest, BadPatternNamesLine) {
  auto d = DockerIgnore::Parse("ok\n[abc\n");
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.status().message(), ".dockerignore:2: pattern [abc: syntax error in pattern");
}

TEST(DockerIgnoreTest, BareExclamationIsAnError) {
  auto d = DockerIgnore::Parse("a\n! \n");
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.status().message(), ".dockerignore:2: illegal exclusion pattern: \"!\"");
}

TEST(DockerIgnoreTest, CleanPath) {
  EXPECT_EQ(CleanPath("./a//b/../c/"), "a/c");
  EXPECT_EQ(CleanPath("/"), ".");
  EXPECT_EQ(CleanPath("../x"), "../x");
  EXPECT_EQ(CleanPath("/../x"), "x");
}

}  // namespace
}  // namespace kiln::builder::context
