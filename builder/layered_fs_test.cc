#include "builder/layered_fs.h"

#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "base/file_util.h"
#include "base/id_map.h"
#include "gtest/gtest.h"

namespace kiln::builder {
namespace {

class LayeredFsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = TempDir::Create("/var/tmp/kiln-layeredfs-");
    ASSERT_TRUE(dir.ok());
    dir_.emplace(std::move(*dir));
    top_ = dir_->path() + "/top";
    bottom_ = dir_->path() + "/bottom";
    // bottom: a merged-/usr layout, a sticky /tmp, /data/a, /gone/file, a symlink loop.
    ASSERT_TRUE(MakeDirs(bottom_ + "/usr/bin").ok());
    ASSERT_TRUE(WriteFileAtomic(bottom_ + "/usr/bin/sh", "sh").ok());
    ASSERT_EQ(::symlink("usr/bin", (bottom_ + "/bin").c_str()), 0);
    ASSERT_EQ(::symlink("/usr/bin", (bottom_ + "/abs").c_str()), 0);
    ASSERT_EQ(::symlink("loop", (bottom_ + "/loop").c_str()), 0);
    ASSERT_EQ(::symlink("../../../../usr", (bottom_ + "/up").c_str()), 0);
    ASSERT_TRUE(MakeDirs(bottom_ + "/etc").ok());
    ASSERT_TRUE(WriteFileAtomic(bottom_ + "/etc/passwd", "old").ok());
    ASSERT_TRUE(MakeDirs(bottom_ + "/tmp").ok());
    ASSERT_EQ(::chmod((bottom_ + "/tmp").c_str(), 01777), 0);
    ASSERT_TRUE(MakeDirs(bottom_ + "/data").ok());
    ASSERT_TRUE(WriteFileAtomic(bottom_ + "/data/a", "a").ok());
    ASSERT_TRUE(MakeDirs(bottom_ + "/gone").ok());
    ASSERT_TRUE(WriteFileAtomic(bottom_ + "/gone/file", "x").ok());
    // top: a new /etc/passwd, /data made opaque with /data/b, /gone whited out.
    ASSERT_TRUE(MakeDirs(top_ + "/etc").ok());
    ASSERT_TRUE(WriteFileAtomic(top_ + "/etc/passwd", "new").ok());
    ASSERT_TRUE(MakeDirs(top_ + "/data").ok());
    ASSERT_EQ(
        ::setxattr((top_ + "/data").c_str(), (OverlayXattrPrefix() + "opaque").c_str(), "y", 1, 0),
        0);
    ASSERT_TRUE(WriteFileAtomic(top_ + "/data/b", "b").ok());
    ASSERT_EQ(::mknod((top_ + "/gone").c_str(), S_IFCHR, makedev(0, 0)), 0);
  }

  LayeredFs Fs() const { return LayeredFs({top_, bottom_}); }

  std::optional<TempDir> dir_;
  std::string top_, bottom_;
};

TEST_F(LayeredFsTest, ResolvesSymlinksInsideTheRoot) {
  LayeredFs fs = Fs();
  EXPECT_EQ(*fs.Resolve("/bin/sh", false), "/usr/bin/sh");
  EXPECT_EQ(*fs.Resolve("/bin", true), "/usr/bin");
  EXPECT_EQ(*fs.Resolve("/bin", false), "/bin");
  EXPECT_EQ(*fs.Resolve("bin/new/file", false), "/usr/bin/new/file");
  EXPECT_EQ(*fs.Resolve("/abs/x", false), "/usr/bin/x");
  EXPECT_EQ(*fs.Resolve("/../../bin/x", false), "/usr/bin/x");
  EXPECT_EQ(*fs.Resolve("/up/bin/x", false), "/usr/bin/x");  // ".." stops at the root
  EXPECT_EQ(*fs.Resolve("/", true), "/");
  auto loop = fs.Resolve("/loop/x", false);
  ASSERT_FALSE(loop.ok());
  EXPECT_NE(loop.status().message().find("Too many levels of symbolic links"), std::string::npos);
}

TEST_F(LayeredFsTest, OverlaySemantics) {
  LayeredFs fs = Fs();
  EXPECT_EQ(fs.ReadFile("/etc/passwd"), "new");    // topmost wins
  EXPECT_FALSE(fs.Lookup("/data/a").has_value());  // hidden by an opaque dir
  EXPECT_EQ(fs.ReadFile("/data/b"), "b");
  EXPECT_FALSE(fs.Lookup("/gone").has_value());  // whited out
  EXPECT_FALSE(fs.Lookup("/gone/file").has_value());
  EXPECT_FALSE(fs.Lookup("/etc/passwd/x").has_value());  // not a directory
  EXPECT_EQ(fs.ReadFile("/bin/sh"), "sh");               // through the symlink
  auto tmp = fs.Lookup("/tmp");
  ASSERT_TRUE(tmp.has_value());
  EXPECT_EQ(tmp->st.st_mode & 07777, 01777u);
  EXPECT_TRUE(S_ISLNK(fs.Lookup("/bin")->st.st_mode));
  EXPECT_FALSE(fs.ReadFile("/missing").has_value());
}

}  // namespace
}  // namespace kiln::builder
