#include "base/copy_tree.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/file_util.h"
#include "gtest/gtest.h"

namespace kiln {
namespace {

TEST(CopyTreeTest, CopiesEverythingAndIsIndependent) {
  auto tmp = MakeTempDir("/tmp/copy-tree-test");
  ASSERT_TRUE(tmp.ok());
  std::string src = *tmp + "/src", dst = *tmp + "/dst";
  ASSERT_TRUE(MakeDirs(src + "/sub").ok());
  ASSERT_TRUE(WriteFileAtomic(src + "/sub/file", "data", 0640).ok());
  ASSERT_EQ(::link((src + "/sub/file").c_str(), (src + "/hard").c_str()), 0);
  ASSERT_EQ(::symlink("../outside", (src + "/link").c_str()), 0);
  ASSERT_EQ(::chmod((src + "/sub").c_str(), 0710), 0);
  ASSERT_EQ(::lchown((src + "/sub/file").c_str(), 123, 456), 0);
  struct timespec times[2] = {{1000, 0}, {2000, 0}};
  ASSERT_EQ(::utimensat(AT_FDCWD, (src + "/sub/file").c_str(), times, 0), 0);

  ASSERT_TRUE(CopyTree(src, dst).ok());
  EXPECT_EQ(*ReadFile(dst + "/sub/file", 100), "data");
  struct stat st, hard;
  ASSERT_EQ(::stat((dst + "/sub/file").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0640u);
  EXPECT_EQ(st.st_uid, 123u);
  EXPECT_EQ(st.st_gid, 456u);
  EXPECT_EQ(st.st_mtim.tv_sec, 2000);
  ASSERT_EQ(::stat((dst + "/hard").c_str(), &hard), 0);
  EXPECT_EQ(st.st_ino, hard.st_ino);  // the hard link is kept, within the copy
  struct stat orig;
  ASSERT_EQ(::stat((src + "/sub/file").c_str(), &orig), 0);
  EXPECT_NE(orig.st_ino, st.st_ino);  // and the copy is not the original
  ASSERT_EQ(::stat((dst + "/sub").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0710u);
  char target[64] = {};
  ASSERT_GT(::readlink((dst + "/link").c_str(), target, sizeof target - 1), 0);
  EXPECT_STREQ(target, "../outside");

  // Writing the copy leaves the source alone.
  ASSERT_TRUE(WriteFileInPlace(dst + "/sub/file", "changed").ok());
  EXPECT_EQ(*ReadFile(src + "/sub/file", 100), "data");
  EXPECT_FALSE(CopyTree(src, dst).ok());  // the destination must not exist
  EXPECT_TRUE(RemoveAll(*tmp).ok());
}

}  // namespace
}  // namespace kiln
