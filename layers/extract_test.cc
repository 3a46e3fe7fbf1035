// Extraction semantics and the malicious-layer suite: every hostile archive either fails
// cleanly or lands inside the target, and nothing outside the target changes.
#include "layers/extract.h"

#include <ftw.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <map>

#include "base/file_util.h"
#include "gtest/gtest.h"
#include "layers/compression.h"
#include "layers/tar_test_util.h"

namespace kiln::layers {
namespace {

using testing::MakeTar;
using testing::TarEntry;

TarEntry F(std::string path, std::string data = "x") {
  TarEntry e;
  e.path = std::move(path);
  e.data = std::move(data);
  return e;
}
TarEntry D(std::string path, int mode = 0755) {
  TarEntry e;
  e.type = TarEntry::kDir;
  e.path = std::move(path);
  e.mode = mode;
  return e;
}
TarEntry L(std::string path, std::string target) {
  TarEntry e;
  e.type = TarEntry::kSymlink;
  e.path = std::move(path);
  e.target = std::move(target);
  e.mode = 0777;
  return e;
}
TarEntry H(std::string path, std::string target) {
  TarEntry e;
  e.type = TarEntry::kHardlink;
  e.path = std::move(path);
  e.target = std::move(target);
  return e;
}

// Every path below `dir` with what it is: content for files, target for symlinks.
std::map<std::string, std::string> Snapshot(const std::string& dir) {
  static std::map<std::string, std::string>* out;
  static size_t prefix;
  std::map<std::string, std::string> result;
  out = &result;
  prefix = dir.size();
  ::nftw(
      dir.c_str(),
      [](const char* p, const struct stat* st, int, struct FTW*) -> int {
        std::string rel = std::string(p).substr(prefix);
        std::string what = "mode " + std::to_string(st->st_mode) + " ";
        if (S_ISREG(st->st_mode)) what += *ReadFile(p, 1 << 20);
        if (S_ISLNK(st->st_mode)) {
          char buf[4096];
          ssize_t n = ::readlink(p, buf, sizeof buf);
          what += std::string(buf, n > 0 ? n : 0);
        }
        (*out)[rel] = what;
        return 0;
      },
      32, FTW_PHYS);
  return result;
}

class ExtractTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = TempDir::Create("/tmp/kiln-extract-");
    ASSERT_TRUE(dir.ok());
    dir_.emplace(std::move(*dir));
    ASSERT_TRUE(MakeDirs(target()).ok());
    ASSERT_TRUE(MakeDirs(outside() + "/dir").ok());
    ASSERT_TRUE(WriteFileAtomic(outside() + "/secret", "original").ok());
    ASSERT_TRUE(WriteFileAtomic(outside() + "/dir/file", "original").ok());
    before_ = Snapshot(outside());
  }
  void TearDown() override {
    // The invariant of every test here: nothing outside the target changed.
    EXPECT_EQ(Snapshot(outside()), before_);
  }
  std::string target() const { return dir_->path() + "/target"; }
  std::string outside() const { return dir_->path() + "/outside"; }
  std::string T(const std::string& rel) const { return target() + "/" + rel; }

  absl::StatusOr<ExtractStats> Extract(const std::vector<TarEntry>& entries,
                                       ExtractOptions options = {}) {
    std::string tar = MakeTar(entries);
    StringReader r(tar);
    return ExtractLayer(r, target(), options);
  }

  std::optional<TempDir> dir_;
  std::map<std::string, std::string> before_;
};

// --- the malicious suite ---

TEST_F(ExtractTest, DotDotIsRejected) {
  auto s = Extract({F("../outside/secret", "pwned")});
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.status().message().find("layer member \"../outside/secret\""), std::string::npos)
      << s.status();
  EXPECT_FALSE(Extract({F("a/../../../outside/secret", "pwned")}).ok());
}

TEST_F(ExtractTest, AbsolutePathIsContained) {
  ASSERT_TRUE(Extract({F(outside() + "/secret", "pwned")}).ok());
  EXPECT_EQ(*ReadFile(T(outside().substr(1) + "/secret"), 100), "pwned");
}

TEST_F(ExtractTest, SymlinkThenWriteThroughIsContained) {
  auto s = Extract({L("link", outside()), F("link/secret", "pwned")});
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(*ReadFile(T(outside().substr(1) + "/secret"), 100), "pwned");
}

TEST_F(ExtractTest, RelativeSymlinkClimbingOutIsContained) {
  auto s = Extract({L("up", "../../../../../../.." + outside()), F("up/secret", "pwned")});
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(*ReadFile(T(outside().substr(1) + "/secret"), 100), "pwned");
}

TEST_F(ExtractTest, TwoHopSymlinkChainIsContained) {
  auto s = Extract({L("a", "b"), L("b", outside() + "/dir"), F("a/file", "pwned")});
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(*ReadFile(T(outside().substr(1) + "/dir/file"), 100), "pwned");
}

TEST_F(ExtractTest, ExistingSymlinkIsReplacedNotWrittenThrough) {
  ASSERT_EQ(::symlink((outside() + "/secret").c_str(), T("victim").c_str()), 0);
  ASSERT_TRUE(Extract({F("victim", "pwned")}).ok());
  struct stat st;
  ASSERT_EQ(::lstat(T("victim").c_str(), &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode));
  EXPECT_EQ(*ReadFile(T("victim"), 100), "pwned");
}

TEST_F(ExtractTest, HardlinkEscapesFail) {
  EXPECT_FALSE(Extract({H("h", "../outside/secret")}).ok());
  // An absolute target is taken inside the root, where it does not exist.
  EXPECT_FALSE(Extract({H("h", outside() + "/secret")}).ok());
  // Through a symlinked directory: resolved inside the root, where there is nothing.
  EXPECT_FALSE(Extract({L("d", outside()), H("h", "d/secret")}).ok());
}

TEST_F(ExtractTest, HardlinkToSymlinkThenOverwriteStaysInside) {
  auto s = Extract({L("s", outside() + "/secret"), H("h", "s"), F("h", "pwned")});
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(*ReadFile(T("h"), 100), "pwned");
}

TEST_F(ExtractTest, RootCannotBeReplaced) {
  EXPECT_FALSE(Extract({L(".", "/")}).ok());
  EXPECT_FALSE(Extract({L("./", outside())}).ok());
  EXPECT_FALSE(Extract({F("/", "x")}).ok());
  struct stat st;
  ASSERT_EQ(::lstat(target().c_str(), &st), 0);
  EXPECT_TRUE(S_ISDIR(st.st_mode));
}

TEST_F(ExtractTest, BadWhiteoutNames) {
  EXPECT_FALSE(Extract({F(".wh.")}).ok());
  EXPECT_FALSE(Extract({F("a/.wh..")}).ok());
  EXPECT_FALSE(Extract({F("a/.wh..", "")}).ok());
}

TEST_F(ExtractTest, WhiteoutThroughSymlinkStaysInside) {
  ASSERT_TRUE(Extract({L("d", outside() + "/dir"), F("d/.wh.file", "")}).ok());
  ASSERT_TRUE(Extract({L("e", outside()), F("e/.wh..wh..opq", "")}).ok());
}

TEST_F(ExtractTest, DevicePolicy) {
  TarEntry dev;
  dev.type = TarEntry::kCharDev;
  dev.path = "dev/null";
  dev.rdev_major = 1;
  dev.rdev_minor = 3;
  ExtractOptions reject;
  reject.devices = DevicePolicy::kReject;
  EXPECT_FALSE(Extract({dev}, reject).ok());
  auto skipped = Extract({dev});
  ASSERT_TRUE(skipped.ok());
  EXPECT_EQ(skipped->skipped_devices, 1u);
  EXPECT_FALSE(PathExists(T("dev/null")));
  ExtractOptions create;
  create.devices = DevicePolicy::kCreate;
  ASSERT_TRUE(Extract({dev}, create).ok());
  struct stat st;
  ASSERT_EQ(::lstat(T("dev/null").c_str(), &st), 0);
  EXPECT_TRUE(S_ISCHR(st.st_mode));
  EXPECT_EQ(st.st_rdev, makedev(1, 3));
}

TEST_F(ExtractTest, EntryCapIsEnforced) {
  ExtractOptions options;
  options.max_entries = 3;
  auto s = Extract({F("a"), F("b"), F("c"), F("d")}, options);
  EXPECT_EQ(s.status().code(), absl::StatusCode::kResourceExhausted);
}

TEST_F(ExtractTest, CompressedLayers) {
  std::string big(3 << 20, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>((i * 7919) >> 5);
  std::string tar = MakeTar({D("d"), F("d/big", big), F("d/small", "s")});
  for (Compression c : {Compression::kGzip, Compression::kZstd}) {
    std::string packed;
    StringWriter sink(&packed);
    auto w = NewCompressor(c, DefaultLevel(c), &sink);
    ASSERT_TRUE((*w)->Write(tar).ok());
    ASSERT_TRUE((*w)->Close().ok());
    StringReader r(packed);
    auto s = ExtractLayer(r, target(), {});
    ASSERT_TRUE(s.ok()) << CompressionName(c) << ": " << s.status();
    EXPECT_EQ(*ReadFile(T("d/big"), 1 << 30), big);
  }
}

TEST_F(ExtractTest, GarbageIsDataLoss) {
  std::string junk(4096, 'j');
  StringReader r(junk);
  auto s = ExtractLayer(r, target(), {});
  EXPECT_EQ(s.status().code(), absl::StatusCode::kDataLoss) << s.status();
}

// --- semantics ---

TEST_F(ExtractTest, MetadataIsApplied) {
  TarEntry f = F("bin/tool", "#!/bin/sh\n");
  f.mode = 04755;
  f.uid = 1000;
  f.gid = 1001;
  f.mtime = 1234567890;
  f.xattrs["user.note"] = "hi";
  TarEntry d = D("bin", 0750);
  d.mtime = 1000;
  ASSERT_TRUE(Extract({d, f, H("bin/tool2", "bin/tool")}).ok());
  struct stat st;
  ASSERT_EQ(::stat(T("bin/tool").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 04755u);
  EXPECT_EQ(st.st_uid, 1000u);
  EXPECT_EQ(st.st_gid, 1001u);
  EXPECT_EQ(st.st_mtime, 1234567890);
  EXPECT_EQ(st.st_nlink, 2u);
  char buf[8];
  EXPECT_EQ(::getxattr(T("bin/tool").c_str(), "user.note", buf, sizeof buf), 2);
  ASSERT_EQ(::stat(T("bin").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0750u);
  EXPECT_EQ(st.st_mtime, 1000);
}

TEST_F(ExtractTest, WhiteoutsApplyToLowerLayers) {
  ASSERT_TRUE(Extract({D("etc"), F("etc/a"), F("etc/b"), D("var"), F("var/old"), D("var/sub"),
                       F("var/sub/deep")})
                  .ok());
  ASSERT_TRUE(
      Extract({F("etc/.wh.a", ""), D("var"), F("var/.wh..wh..opq", ""), F("var/new")}).ok());
  EXPECT_FALSE(PathExists(T("etc/a")));
  EXPECT_TRUE(PathExists(T("etc/b")));
  EXPECT_FALSE(PathExists(T("var/old")));
  EXPECT_FALSE(PathExists(T("var/sub")));
  EXPECT_TRUE(PathExists(T("var/new")));
}

TEST_F(ExtractTest, OpaqueKeepsEntriesOfTheSameLayer) {
  ASSERT_TRUE(Extract({D("d"), F("d/lower")}).ok());
  ASSERT_TRUE(Extract({D("d"), F("d/-first"), F("d/.wh..wh..opq", ""), F("d/z")}).ok());
  EXPECT_FALSE(PathExists(T("d/lower")));
  EXPECT_TRUE(PathExists(T("d/-first")));
  EXPECT_TRUE(PathExists(T("d/z")));
}

TEST_F(ExtractTest, OverlayWhiteoutMode) {
  ExtractOptions options;
  options.whiteouts = WhiteoutMode::kOverlay;
  ASSERT_TRUE(
      Extract({D("d"), F("d/.wh.gone", ""), D("o"), F("o/.wh..wh..opq", "")}, options).ok());
  struct stat st;
  ASSERT_EQ(::lstat(T("d/gone").c_str(), &st), 0);
  EXPECT_TRUE(S_ISCHR(st.st_mode));
  EXPECT_EQ(st.st_rdev, makedev(0, 0));
  char v[2];
  EXPECT_EQ(::getxattr(T("o").c_str(), "trusted.overlay.opaque", v, sizeof v), 1);
}

TEST_F(ExtractTest, FileReplacesDirectoryAndViceVersa) {
  ASSERT_TRUE(Extract({D("x"), F("x/inner"), F("y")}).ok());
  ASSERT_TRUE(Extract({F("x", "now a file"), D("y"), F("y/inner")}).ok());
  EXPECT_EQ(*ReadFile(T("x"), 100), "now a file");
  EXPECT_TRUE(PathExists(T("y/inner")));
}

TEST_F(ExtractTest, DanglingSymlinkParentIsCreatedInside) {
  ASSERT_TRUE(Extract({L("etc", "/opt/etc"), F("etc/conf", "c")}).ok());
  EXPECT_EQ(*ReadFile(T("opt/etc/conf"), 100), "c");
}

}  // namespace
}  // namespace kiln::layers
