#include "base/file_util.h"

#include <dirent.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

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

TEST(FileUtilTest, TempDirOfADeadMakerIsSweptALiveOnesIsNot) {
  auto parent = TempDir::Create("/tmp/kiln-test-sweep-");
  ASSERT_TRUE(parent.ok());
  const std::string prefix = parent->path() + "/work-";
  // A maker killed with its directory still there: _exit runs no destructor.
  pid_t pid = ::fork();
  if (pid == 0) {
    auto dir = TempDir::Create(prefix);
    if (!dir.ok() || !MakeDirs(dir->path() + "/sub").ok()) ::_exit(1);
    ::_exit(0);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  auto left = [&] {
    int n = 0;
    DIR* d = ::opendir(parent->path().c_str());
    while (struct dirent* e = ::readdir(d)) n += std::string(e->d_name).rfind("work-", 0) == 0;
    ::closedir(d);
    return n;
  };
  ASSERT_EQ(left(), 2);  // the directory and its owner file
  // Directories without an owner: an old one is debris, a young one may be a maker's first
  // moment.
  ASSERT_TRUE(MakeDirs(prefix + "oldunowned").ok());
  ASSERT_TRUE(MakeDirs(prefix + "newunowned").ok());
  struct timeval old_times[2] = {{1000000000, 0}, {1000000000, 0}};
  ASSERT_EQ(::utimes((prefix + "oldunowned").c_str(), old_times), 0);

  auto live = TempDir::Create(prefix);  // sweeps first
  ASSERT_TRUE(live.ok());
  EXPECT_FALSE(PathExists(prefix + "oldunowned"));
  EXPECT_TRUE(PathExists(prefix + "newunowned"));
  EXPECT_EQ(left(), 3);  // live's directory and owner, newunowned
  EXPECT_EQ(SweepDeadTempDirs(prefix), 0);
  EXPECT_TRUE(PathExists(live->path()));
  EXPECT_TRUE(PathExists(live->path() + ".owner"));
}

TEST(FileUtilTest, DirnameCases) {
  EXPECT_EQ(Dirname("a/b/c"), "a/b");
  EXPECT_EQ(Dirname("/a"), "/");
  EXPECT_EQ(Dirname("a"), ".");
}

}  // namespace
}  // namespace kiln
