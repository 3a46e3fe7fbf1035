#include "builder/diff_writer.h"

#include <sys/stat.h>
#include <unistd.h>

#include "base/file_util.h"
#include "builder/layered_fs.h"
#include "gtest/gtest.h"

namespace kiln::builder {
namespace {

// An image of one layer (merged /usr: /bin -> usr/bin; /etc 0750; /etc/hosts a file) and an
// empty diff, written as the current user (so the test needs no root).
class DiffWriterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = TempDir::Create("/var/tmp/kiln-diffwriter-");
    ASSERT_TRUE(dir.ok());
    dir_.emplace(std::move(*dir));
    layer_ = dir_->path() + "/layer";
    diff_ = dir_->path() + "/diff";
    ASSERT_TRUE(MakeDirs(layer_ + "/usr/bin").ok());
    ASSERT_EQ(::symlink("usr/bin", (layer_ + "/bin").c_str()), 0);
    ASSERT_TRUE(MakeDirs(layer_ + "/etc").ok());
    ASSERT_EQ(::chmod((layer_ + "/etc").c_str(), 0750), 0);
    ASSERT_TRUE(WriteFileAtomic(layer_ + "/etc/hosts", "h").ok());
    ASSERT_TRUE(MakeDirs(diff_).ok());
    image_.emplace(std::vector<std::string>{layer_});
    me_.uid = ::getuid();
    me_.gid = ::getgid();
  }

  DiffWriter Writer(std::optional<dockerfile::FileMode> chmod = std::nullopt) {
    return DiffWriter(
        {.diff = diff_, .owner = me_, .chmod = chmod, .keep_owners = false, .image = &*image_});
  }

  static mode_t ModeOf(const std::string& path) {
    struct stat st;
    return ::lstat(path.c_str(), &st) == 0 ? st.st_mode : 0;
  }

  std::optional<TempDir> dir_;
  std::string layer_, diff_;
  std::optional<LayeredFs> image_;
  ResolvedUser me_;
};

TEST_F(DiffWriterTest, PlacesTargetsThroughTheImagesSymlinks) {
  DiffWriter w = Writer();
  EXPECT_EQ(*w.Place("/bin/tool", /*is_dir=*/false), "/usr/bin/tool");
  EXPECT_EQ(*w.Place("/bin", /*is_dir=*/true), "/usr/bin");
  EXPECT_EQ(*w.Place("/new/dir/file", /*is_dir=*/false), "/new/dir/file");
  ASSERT_TRUE(w.WriteData("/bin/tool", "#!/bin/sh\n", 0755).ok());
  EXPECT_TRUE(PathExists(diff_ + "/usr/bin/tool"));
  EXPECT_FALSE(PathExists(diff_ + "/bin"));
  EXPECT_EQ(ModeOf(diff_ + "/usr/bin/tool") & 07777, 0755u);
}

TEST_F(DiffWriterTest, ParentsTheImageHasKeepTheirModes) {
  DiffWriter w = Writer();
  ASSERT_TRUE(w.WriteData("/etc/app/conf", "x", 0644).ok());
  EXPECT_EQ(ModeOf(diff_ + "/etc") & 07777, 0750u);      // as the image has it
  EXPECT_EQ(ModeOf(diff_ + "/etc/app") & 07777, 0755u);  // new
}

TEST_F(DiffWriterTest, AnOctalChmodIsTheModeOfNewParentsToo) {
  DiffWriter w = Writer(*dockerfile::FileMode::Parse("0700"));
  ASSERT_TRUE(w.WriteData("/opt/x/y", "x", 0644).ok());
  EXPECT_EQ(ModeOf(diff_ + "/opt/x/y") & 07777, 0700u);
  EXPECT_EQ(ModeOf(diff_ + "/opt/x") & 07777, 0700u);
  EXPECT_EQ(ModeOf(diff_ + "/etc") & 07777, 0u);  // untouched: not written
}

TEST_F(DiffWriterTest, AFileWhereADirectoryMustBeIsAnError) {
  DiffWriter w = Writer();
  absl::Status s = w.WriteData("/etc/hosts/x", "x", 0644);
  EXPECT_TRUE(absl::IsFailedPrecondition(s)) << s;
  EXPECT_NE(s.message().find("not a directory"), std::string::npos) << s;
  EXPECT_FALSE(PathExists(diff_ + "/etc/hosts"));
}

TEST_F(DiffWriterTest, ExistingDirectoriesAreCopiedIntoNotReplaced) {
  DiffWriter w = Writer();
  ASSERT_TRUE(w.MakeDir("/etc", 0700, /*keep_source_owner=*/false).ok());
  EXPECT_EQ(ModeOf(diff_ + "/etc") & 07777, 0750u);
  ASSERT_TRUE(w.MakeDir("/srv", 0711, /*keep_source_owner=*/false).ok());
  EXPECT_EQ(ModeOf(diff_ + "/srv") & 07777, 0711u);
}

TEST_F(DiffWriterTest, CopiedFilesKeepTheirModificationTime) {
  std::string src = dir_->path() + "/src";
  ASSERT_TRUE(WriteFileAtomic(src, "data").ok());
  ASSERT_TRUE(Writer().CopyFile("/data/f", src, 0600, 1234567).ok());
  struct stat st;
  ASSERT_EQ(::stat((diff_ + "/data/f").c_str(), &st), 0);
  EXPECT_EQ(st.st_mtime, 1234567);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
}

}  // namespace
}  // namespace kiln::builder
