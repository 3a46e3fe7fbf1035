#include "base/file_util.h"

#include <sys/stat.h>

#include "gtest/gtest.h"

namespace kiln {
namespace {

TEST(FileUtilTest, WriteFileAtomicThenRead) {
  auto dir = TempDir::Create("/tmp/kiln-test-");
  ASSERT_TRUE(dir.ok());
  std::string path = dir->path() + "/f";
  ASSERT_TRUE(WriteFileAtomic(path, "hello", 0600).ok());
  auto data = ReadFile(path, 100);
  ASSERT_TRUE(data.ok());
  EXPECT_EQ(*data, "hello");
  struct stat st;
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_TRUE(WriteFileAtomic(path, "second").ok());
  EXPECT_EQ(*ReadFile(path, 100), "second");
}

TEST(FileUtilTest, ReadFileEnforcesLimit) {
  auto dir = TempDir::Create("/tmp/kiln-test-");
  std::string path = dir->path() + "/f";
  ASSERT_TRUE(WriteFileAtomic(path, std::string(1000, 'x')).ok());
  auto data = ReadFile(path, 999);
  EXPECT_EQ(data.status().code(), absl::StatusCode::kOutOfRange);
}

TEST(FileUtilTest, ReadMissingFileKeepsErrno) {
  auto data = ReadFile("/nonexistent/file", 10);
  EXPECT_TRUE(absl::IsNotFound(data.status())) << data.status();
  EXPECT_NE(data.status().message().find("/nonexistent/file"), absl::string_view::npos);
}

TEST(FileUtilTest, TempDirRemovesItsTree) {
  std::string path;
  {
    auto dir = TempDir::Create("/tmp/kiln-test-");
    ASSERT_TRUE(dir.ok());
    path = dir->path();
    ASSERT_TRUE(MakeDirs(path + "/a/b/c").ok());
    ASSERT_TRUE(WriteFileAtomic(path + "/a/b/c/f", "x").ok());
  }
  EXPECT_FALSE(PathExists(path));
}

TEST(FileUtilTest, DirnameCases) {
  EXPECT_EQ(Dirname("a/b/c"), "a/b");
  EXPECT_EQ(Dirname("/a"), "/");
  EXPECT_EQ(Dirname("a"), ".");
}

}  // namespace
}  // namespace kiln
