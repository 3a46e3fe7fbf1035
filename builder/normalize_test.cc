#include "builder/normalize.h"

#include <archive.h>
#include <archive_entry.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "base/file_util.h"
#include "gtest/gtest.h"

namespace kiln::builder {
namespace {

constexpr int64_t kDate = 1700000000;  // 2023-11-14 22:13:20 UTC

std::string MakeTar(int format, int64_t mtime) {
  std::string out;
  struct archive* a = archive_write_new();
  archive_write_set_format(a, format);
  archive_write_set_bytes_in_last_block(a, 1);
  archive_write_open(
      a, &out, nullptr,
      [](struct archive*, void* o, const void* b, size_t n) -> ssize_t {
        static_cast<std::string*>(o)->append(static_cast<const char*>(b), n);
        return static_cast<ssize_t>(n);
      },
      nullptr);
  for (const char* name : {"busybox-1.36.1-r2.Q1abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJ="
                           "pad-to-a-long-name.post-install",
                           "musl-1.2.4-r2.trigger"}) {
    struct archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, name);
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0755);
    archive_entry_set_mtime(e, mtime, 0);
    archive_entry_set_size(e, 10);
    archive_write_header(a, e);
    archive_write_data(a, "#!/bin/sh\n", 10);
    archive_entry_free(e);
  }
  archive_write_close(a);
  archive_write_free(a);
  return out;
}

class NormalizeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::string> dir = MakeTempDir(::testing::TempDir() + "/normalize-");
    ASSERT_TRUE(dir.ok());
    root_ = *dir;
    upper_ = root_ + "/upper";
    lower_ = root_ + "/lower";
    ASSERT_TRUE(MakeDirs(upper_).ok());
    ASSERT_TRUE(MakeDirs(lower_).ok());
  }
  void TearDown() override { (void)RemoveAll(root_); }

  static void Put(const std::string& path, const std::string& content) {
    ASSERT_TRUE(MakeDirs(Dirname(path)).ok());
    ASSERT_TRUE(WriteFileInPlace(path, content).ok());
  }
  std::vector<Normalized> Run() {
    absl::StatusOr<std::vector<Normalized>> n = NormalizeRunDiff(upper_, {lower_}, kDate);
    EXPECT_TRUE(n.ok()) << n.status();
    return n.ok() ? *n : std::vector<Normalized>{};
  }
  std::string Read(const std::string& path) {
    absl::StatusOr<std::string> s = ReadFile(path, 1 << 20);
    return s.ok() ? *s : "<missing>";
  }

  std::string root_, upper_, lower_;
};

TEST_F(NormalizeTest, CachesAreDroppedAndHiddenWhereTheImageHasThem) {
  Put(upper_ + "/var/cache/apt/pkgcache.bin", "new cache");
  Put(upper_ + "/var/cache/ldconfig/aux-cache", "aux");
  Put(lower_ + "/var/cache/ldconfig/aux-cache", "old aux");
  std::vector<Normalized> n = Run();
  ASSERT_EQ(n.size(), 2u);
  EXPECT_EQ(n[0].path, "/var/cache/apt/pkgcache.bin");
  EXPECT_EQ(n[0].what, "dropped");
  EXPECT_EQ(n[1].path, "/var/cache/ldconfig/aux-cache");
  EXPECT_FALSE(PathExists(upper_ + "/var/cache/apt/pkgcache.bin"));
  struct stat st;
  ASSERT_EQ(::lstat((upper_ + "/var/cache/ldconfig/aux-cache").c_str(), &st), 0);
  EXPECT_TRUE(S_ISCHR(st.st_mode));
  EXPECT_EQ(st.st_rdev, ::makedev(0, 0));
  // Nothing of the whiteout's making is left beside it.
  absl::StatusOr<std::vector<std::string>> names = ListDir(upper_ + "/var/cache/ldconfig");
  ASSERT_TRUE(names.ok());
  EXPECT_EQ(names->size(), 1u);
}

TEST_F(NormalizeTest, OnlyTheLinesTheStepAddedGetTheSourceDate) {
  const std::string old = "2020-01-01 00:00:00 startup archives unpack\n";
  Put(lower_ + "/var/log/dpkg.log", old);
  Put(upper_ + "/var/log/dpkg.log", old + "2026-12-03 09:33:23 install python3:amd64 <none> 3\n");
  Put(upper_ + "/var/log/apt/history.log",
      "\nStart-Date: 2026-12-03  09:33:21\nCommandline: apt-get install x\n"
      "End-Date: 2026-12-03  09:33:29\n");
  std::vector<Normalized> n = Run();
  ASSERT_EQ(n.size(), 2u);
  EXPECT_EQ(n[0].what, "log times");
  EXPECT_EQ(Read(upper_ + "/var/log/dpkg.log"),
            old + "2023-11-14 22:13:20 install python3:amd64 <none> 3\n");
  EXPECT_EQ(Read(upper_ + "/var/log/apt/history.log"),
            "\nStart-Date: 2023-11-14  22:13:20\nCommandline: apt-get install x\n"
            "End-Date: 2023-11-14  22:13:20\n");
}

TEST_F(NormalizeTest, ALogAlreadyAtTheSourceDateIsNotListed) {
  Put(upper_ + "/var/log/alternatives.log", "update-alternatives 2023-11-14 22:13:20: run\n");
  EXPECT_TRUE(Run().empty());
}

TEST_F(NormalizeTest, PipsCacheGoesAndIsHiddenWhereTheImageHasOne) {
  Put(upper_ + "/root/.cache/pip/http/a/b", "cached");
  std::vector<Normalized> n = Run();
  ASSERT_EQ(n.size(), 1u);
  EXPECT_EQ(n[0].path, "/root/.cache/pip");
  EXPECT_FALSE(PathExists(upper_ + "/root/.cache/pip"));
  EXPECT_TRUE(PathExists(upper_ + "/root/.cache"));
  Put(upper_ + "/root/.cache/pip/selfcheck/x.json", "{}");
  Put(lower_ + "/root/.cache/pip/selfcheck/y.json", "{}");
  ASSERT_EQ(Run().size(), 1u);
  struct stat st;
  ASSERT_EQ(::lstat((upper_ + "/root/.cache/pip").c_str(), &st), 0);
  EXPECT_TRUE(S_ISCHR(st.st_mode));
}

TEST_F(NormalizeTest, NothingBehindASymlinkIsTouched) {
  Put(root_ + "/elsewhere/cache/apt/pkgcache.bin", "not the step's");
  ASSERT_EQ(::symlink((root_ + "/elsewhere").c_str(), (upper_ + "/var").c_str()), 0);
  EXPECT_TRUE(Run().empty());
  EXPECT_EQ(Read(root_ + "/elsewhere/cache/apt/pkgcache.bin"), "not the step's");
}

TEST_F(NormalizeTest, DirectoriesAreFollowedAsTheImageHasThem) {
  // A merged-/usr image: /lib is usr/lib, below the step.
  ASSERT_TRUE(MakeDirs(lower_ + "/usr/lib").ok());
  ASSERT_EQ(::symlink("usr/lib", (lower_ + "/lib").c_str()), 0);
  Put(upper_ + "/usr/lib/apk/db/scripts.tar", MakeTar(ARCHIVE_FORMAT_TAR_USTAR, 1900000000));
  std::vector<Normalized> n = Run();
  ASSERT_EQ(n.size(), 1u);
  EXPECT_EQ(n[0].path, "/usr/lib/apk/db/scripts.tar");
}

TEST_F(NormalizeTest, ADirectoryWhereAFileIsExpectedIsLeftAlone) {
  ASSERT_TRUE(MakeDirs(upper_ + "/var/cache/apt/pkgcache.bin/x").ok());
  EXPECT_TRUE(Run().empty());
  EXPECT_TRUE(PathExists(upper_ + "/var/cache/apt/pkgcache.bin/x"));
}

TEST_F(NormalizeTest, ApkScriptArchiveTimesAreClampedInItsOwnFormat) {
  const std::string later = MakeTar(ARCHIVE_FORMAT_TAR_GNUTAR, 1900000000);
  Put(upper_ + "/lib/apk/db/scripts.tar", later);
  std::vector<Normalized> n = Run();
  ASSERT_EQ(n.size(), 1u);
  EXPECT_EQ(n[0].what, "archive times");
  // The same as an archive written at the source date: only the times changed.
  EXPECT_EQ(Read(upper_ + "/lib/apk/db/scripts.tar"), MakeTar(ARCHIVE_FORMAT_TAR_GNUTAR, kDate));
  // An older member keeps its time; an archive already clamped is not rewritten.
  EXPECT_TRUE(Run().empty());
  const std::string earlier = MakeTar(ARCHIVE_FORMAT_TAR_USTAR, 1000);
  absl::StatusOr<std::string> same = ClampTarTimes(earlier, kDate);
  ASSERT_TRUE(same.ok()) << same.status();
  EXPECT_EQ(*same, earlier);
}

TEST_F(NormalizeTest, AScriptArchiveThatIsNotATarIsLeftAlone) {
  Put(upper_ + "/lib/apk/db/scripts.tar", "not a tar at all, just some bytes");
  EXPECT_TRUE(Run().empty());
  EXPECT_EQ(Read(upper_ + "/lib/apk/db/scripts.tar"), "not a tar at all, just some bytes");
}

TEST(ReplaceLogTimesTest, FormsOfDateAndTime) {
  EXPECT_EQ(ReplaceLogTimes("a 2026-12-03T09:33:23Z b", 0), "a 1970-01-01T00:00:00Z b");
  EXPECT_EQ(ReplaceLogTimes("2026-12-03   09:33:23", 0), "1970-01-01   00:00:00");
  // Not a date and time: left as written.
  EXPECT_EQ(ReplaceLogTimes("2026-12-03 version 1.2", 0), "2026-12-03 version 1.2");
  EXPECT_EQ(ReplaceLogTimes("2026-12-0309:33:23", 0), "2026-12-0309:33:23");
  EXPECT_EQ(ReplaceLogTimes("2026-12-03 09:33:2", 0), "2026-12-03 09:33:2");
}

TEST(NormalizedSummaryTest, ListsEachFile) {
  EXPECT_EQ(NormalizedSummary({}), "");
  EXPECT_EQ(NormalizedSummary({{"/a", "dropped"}}), "normalized 1 file: /a (dropped)");
  EXPECT_EQ(NormalizedSummary({{"/a", "dropped"}, {"/b", "log times"}}),
            "normalized 2 files: /a (dropped), /b (log times)");
}

}  // namespace
}  // namespace kiln::builder
