#include "builder/copy_sources.h"

#include <sys/stat.h>

#include <string>
#include <utility>
#include <vector>

#include "gtest/gtest.h"

namespace kiln::builder {
namespace {

using context::ContextEntry;
using Kind = CopyAction::Kind;

ContextEntry Entry(std::string path, mode_t mode) {
  ContextEntry e;
  e.path = std::move(path);
  e.mode = mode;
  return e;
}
ContextEntry Dir(std::string path) { return Entry(std::move(path), S_IFDIR | 0755); }
ContextEntry File(std::string path) { return Entry(std::move(path), S_IFREG | 0644); }

// "kind path -> target" for each action.
std::vector<std::string> Show(const std::vector<CopyAction>& actions) {
  std::vector<std::string> out;
  for (const CopyAction& a : actions) {
    const char* kind = a.kind == Kind::kEntry     ? "copy"
                       : a.kind == Kind::kTopFile ? "file"
                       : a.kind == Kind::kMakeDir ? "mkdir"
                                                  : "ensure";
    out.push_back(std::string(kind) + " " + (a.entry ? a.entry->path : "-") + " -> " + a.target);
  }
  return out;
}

using Lines = std::vector<std::string>;

TEST(SelectCopiesTest, AFileGoesToTheDestinationOrIntoIt) {
  std::vector<ContextEntry> e = {File("src/a.txt")};
  EXPECT_EQ(Show(SelectCopies(e, "src/a.txt", "/x", false, nullptr)),
            (Lines{"file src/a.txt -> /x"}));
  EXPECT_EQ(Show(SelectCopies(e, "src/a.txt", "/x", true, nullptr)),
            (Lines{"file src/a.txt -> /x/a.txt"}));
}

TEST(SelectCopiesTest, ADirectorysContentsGoIntoTheDestination) {
  std::vector<ContextEntry> e = {Dir("src"), File("src/a"), Dir("src/d"), File("src/d/b")};
  EXPECT_EQ(Show(SelectCopies(e, "./src/", "/app", false, nullptr)),
            (Lines{"mkdir src -> /app", "copy src/a -> /app/a", "copy src/d -> /app/d",
                   "copy src/d/b -> /app/d/b"}));
}

TEST(SelectCopiesTest, TheWholeContext) {
  std::vector<ContextEntry> e = {File("a"), Dir("d"), File("d/b")};
  EXPECT_EQ(Show(SelectCopies(e, ".", "/app", true, nullptr)),
            (Lines{"copy a -> /app/a", "copy d -> /app/d", "copy d/b -> /app/d/b"}));
}

TEST(SelectCopiesTest, AWildcardMatchingOneFileCopiesItAsNamed) {
  std::vector<ContextEntry> one = {File("a.txt")};
  EXPECT_EQ(Show(SelectCopies(one, "*.txt", "/x", false, nullptr)), (Lines{"file a.txt -> /x"}));
  std::vector<ContextEntry> two = {File("a.txt"), File("b.txt")};
  EXPECT_EQ(Show(SelectCopies(two, "*.txt", "/x", false, nullptr)),
            (Lines{"file a.txt -> /x/a.txt", "file b.txt -> /x/b.txt"}));
}

TEST(SelectCopiesTest, NothingMatchedStillMakesTheDestination) {
  EXPECT_EQ(Show(SelectCopies({}, "*.none", "/out", true, nullptr)), (Lines{"ensure - -> /out"}));
  EXPECT_EQ(Show(SelectCopies({}, "*.none", "/out/file", false, nullptr)),
            (Lines{"ensure - -> /out"}));
}

TEST(SelectCopiesTest, ExcludeMatchesBelowTheCopiedDirectoryAndPrunesDirectories) {
  auto exclude = context::DockerIgnore::Parse("*.log\nskip", "--exclude");
  ASSERT_TRUE(exclude.ok());
  std::vector<ContextEntry> e = {Dir("src"),      File("src/a.log"),  File("src/keep"),
                                 Dir("src/skip"), File("src/skip/x"), File("src/skip/y")};
  EXPECT_EQ(Show(SelectCopies(e, "src", "/app", false, &*exclude)),
            (Lines{"mkdir src -> /app", "copy src/keep -> /app/keep"}));
}

TEST(SelectCopiesTest, ExcludeMatchesRelativeToTheWildcardsDirectory) {
  auto exclude = context::DockerIgnore::Parse("b.txt", "--exclude");
  ASSERT_TRUE(exclude.ok());
  std::vector<ContextEntry> e = {File("dir/a.txt"), File("dir/b.txt"), File("dir/c.txt")};
  EXPECT_EQ(Show(SelectCopies(e, "dir/*.txt", "/x", true, &*exclude)),
            (Lines{"file dir/a.txt -> /x/a.txt", "file dir/c.txt -> /x/c.txt"}));
}

TEST(SelectParentsCopiesTest, KeepsThePathsBelowThePivot) {
  EXPECT_EQ(ParentsBase("x/./y/*.go"), "x");
  EXPECT_EQ(ParentsBase("y/*.go"), ".");
  std::vector<ContextEntry> e = {Dir("x"), Dir("x/y"), File("x/y/a.go"), File("x/y/b.txt")};
  auto actions = SelectParentsCopies(e, "x/./y/*.go", "/dst", nullptr);
  ASSERT_TRUE(actions.ok()) << actions.status();
  EXPECT_EQ(Show(*actions), (Lines{"copy x/y -> /dst/y", "copy x/y/a.go -> /dst/y/a.go"}));
}

TEST(SelectParentsCopiesTest, WithoutAPivotTheWholePathIsKept) {
  std::vector<ContextEntry> e = {Dir("a"), Dir("a/b"), File("a/b/c"), File("z")};
  auto actions = SelectParentsCopies(e, "a/b/c", "/dst", nullptr);
  ASSERT_TRUE(actions.ok()) << actions.status();
  EXPECT_EQ(Show(*actions),
            (Lines{"copy a -> /dst/a", "copy a/b -> /dst/a/b", "copy a/b/c -> /dst/a/b/c"}));
}

TEST(SelectParentsCopiesTest, AMissingPathIsNotFoundUnlessAWildcardMatchedNothing) {
  std::vector<ContextEntry> e = {File("z")};
  auto missing = SelectParentsCopies(e, "a/b", "/dst", nullptr);
  EXPECT_TRUE(absl::IsNotFound(missing.status())) << missing.status();
  EXPECT_EQ(missing.status().message(), "\"/a/b\": not found");
  auto none = SelectParentsCopies(e, "a/*.go", "/dst", nullptr);
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_EQ(Show(*none), (Lines{"mkdir - -> /dst"}));
}

}  // namespace
}  // namespace kiln::builder
