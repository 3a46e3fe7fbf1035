#include "base/in_root.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/file_util.h"
#include "gtest/gtest.h"

namespace kiln {
namespace {

class InRootTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = TempDir::Create("/tmp/kiln-inroot-");
    ASSERT_TRUE(dir.ok());
    dir_.emplace(std::move(*dir));
    ASSERT_TRUE(MakeDirs(root() + "/in").ok());
    ASSERT_TRUE(MakeDirs(outside()).ok());
    fd_ = UniqueFd(::open(root().c_str(), O_RDONLY | O_DIRECTORY));
    ASSERT_TRUE(fd_.valid());
  }
  std::string root() const { return dir_->path() + "/root"; }
  std::string outside() const { return dir_->path() + "/outside"; }

  std::optional<TempDir> dir_;
  UniqueFd fd_;
};

TEST_F(InRootTest, AbsoluteSymlinkResolvesInsideRoot) {
  ASSERT_EQ(::symlink(outside().c_str(), (root() + "/escape").c_str()), 0);
  auto dir = MkdirAllInRoot(fd_.get(), "escape/sub");
  ASSERT_TRUE(dir.ok()) << dir.status();
  // The absolute target was taken relative to the root: the directory is inside it.
  EXPECT_TRUE(PathExists(root() + outside() + "/sub"));
  EXPECT_FALSE(PathExists(outside() + "/sub"));
}

TEST_F(InRootTest, DotDotSymlinkCannotClimbOut) {
  ASSERT_EQ(::symlink("../../../../outside", (root() + "/up").c_str()), 0);
  auto dir = MkdirAllInRoot(fd_.get(), "up/x");
  ASSERT_TRUE(dir.ok()) << dir.status();
  EXPECT_FALSE(PathExists(outside() + "/x"));
  EXPECT_TRUE(PathExists(root() + "/outside/x"));
}

TEST_F(InRootTest, FileInTheWayIsAnError) {
  ASSERT_TRUE(WriteFileAtomic(root() + "/in/file", "x").ok());
  EXPECT_FALSE(MkdirAllInRoot(fd_.get(), "in/file/sub").ok());
}

TEST_F(InRootTest, CleanMemberPath) {
  EXPECT_EQ(*CleanMemberPath("./a//b/./c/"), "a/b/c");
  EXPECT_EQ(*CleanMemberPath("/etc/passwd"), "etc/passwd");
  EXPECT_EQ(*CleanMemberPath("./"), "");
  EXPECT_FALSE(CleanMemberPath("a/../../b").ok());
  EXPECT_FALSE(CleanMemberPath("..").ok());
}

TEST_F(InRootTest, RemoveAllAtDoesNotFollowSymlinks) {
  ASSERT_TRUE(WriteFileAtomic(outside() + "/keep", "x").ok());
  ASSERT_TRUE(MakeDirs(root() + "/d").ok());
  ASSERT_EQ(::symlink(outside().c_str(), (root() + "/d/link").c_str()), 0);
  ASSERT_TRUE(RemoveAllAt(fd_.get(), "d").ok());
  EXPECT_FALSE(PathExists(root() + "/d"));
  EXPECT_TRUE(PathExists(outside() + "/keep"));
}

}  // namespace
}  // namespace kiln
