#include "layers/tar_writer.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "base/file_util.h"
#include "gtest/gtest.h"
#include "layers/tar_test_util.h"

namespace kiln::layers {
namespace {

using testing::ReadTar;
using testing::TarEntry;

class TarWriterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = TempDir::Create("/tmp/kiln-tar-");
    ASSERT_TRUE(dir.ok());
    dir_.emplace(std::move(*dir));
  }
  std::string P(const std::string& rel) { return dir_->path() + "/" + rel; }
  void File(const std::string& rel, const std::string& data, int mode = 0644) {
    ASSERT_TRUE(MakeDirs(Dirname(P(rel))).ok());
    ASSERT_TRUE(WriteFileAtomic(P(rel), data, mode).ok());
  }
  std::string Tar(const TarOptions& options = {}) {
    std::string out;
    StringWriter w(&out);
    absl::Status s = WriteLayerTar(dir_->path(), options, &w);
    EXPECT_TRUE(s.ok()) << s;
    return out;
  }
  std::optional<TempDir> dir_;
};

TEST_F(TarWriterTest, SortedNumericOwnersHardlinksSymlinks) {
  File("b/z", "zz");
  File("b/a", "aa", 0755);
  File("a-c", "x");
  File("a/inner", "in");
  ASSERT_EQ(::symlink("../a/inner", P("b/link").c_str()), 0);
  ASSERT_EQ(::link(P("b/a").c_str(), P("b/hard").c_str()), 0);
  ASSERT_EQ(::mkfifo(P("fifo").c_str(), 0600), 0);
  ASSERT_EQ(::chown(P("b/z").c_str(), 1234, 5678), 0);
  std::vector<TarEntry> entries = ReadTar(Tar());
  std::vector<std::string> paths;
  for (const TarEntry& e : entries) paths.push_back(e.path);
  EXPECT_EQ(paths, (std::vector<std::string>{"a/", "a/inner", "a-c", "b/", "b/a", "b/hard",
                                             "b/link", "b/z", "fifo"}));
  EXPECT_EQ(entries[4].mode, 0755);
  EXPECT_EQ(entries[4].data, "aa");
  EXPECT_EQ(entries[5].type, TarEntry::kHardlink);
  EXPECT_EQ(entries[5].target, "b/a");
  EXPECT_EQ(entries[6].type, TarEntry::kSymlink);
  EXPECT_EQ(entries[6].target, "../a/inner");
  EXPECT_EQ(entries[7].uid, 1234);
  EXPECT_EQ(entries[7].gid, 5678);
  EXPECT_EQ(entries[8].type, TarEntry::kFifo);
}

TEST_F(TarWriterTest, NoUserNamesAndNoPaxForPlainEntries) {
  File("etc/hostname", "h");
  std::string tar = Tar();
  // ustar header: uname at 265, gname at 297 (32 bytes each), typeflag at 156.
  for (size_t off = 0; off + 512 <= tar.size(); off += 512) {
    if (tar[off] == '\0') break;
    EXPECT_NE(tar[off + 156], 'x') << "unexpected PAX header";
    EXPECT_EQ(tar.substr(off + 265, 32), std::string(32, '\0'));
    EXPECT_EQ(tar.substr(off + 297, 32), std::string(32, '\0'));
    size_t size = std::strtoul(tar.substr(off + 124, 12).c_str(), nullptr, 8);
    off += (size + 511) / 512 * 512;
  }
}

TEST_F(TarWriterTest, ClampsMtimesAndIsDeterministic) {
  File("f", "data");
  struct timespec times[2] = {{2000000000, 0}, {2000000000, 0}};
  ASSERT_EQ(::utimensat(AT_FDCWD, P("f").c_str(), times, 0), 0);
  TarOptions options;
  options.source_date_epoch = 1000;
  std::string first = Tar(options);
  EXPECT_EQ(ReadTar(first)[0].mtime, 1000);
  // Reading the files (atime) and rewriting a file identically changes nothing.
  File("f", "data");
  ASSERT_EQ(::utimensat(AT_FDCWD, P("f").c_str(), times, 0), 0);
  EXPECT_EQ(Tar(options), first);
  options.source_date_epoch = 3000000000;
  EXPECT_EQ(ReadTar(Tar(options))[0].mtime, 2000000000);
}

TEST_F(TarWriterTest, KeepsXattrsSortedDropsOverlayOnes) {
  File("f", "x");
  ASSERT_EQ(::setxattr(P("f").c_str(), "user.b", "2", 1, 0), 0);
  ASSERT_EQ(::setxattr(P("f").c_str(), "user.a", "1", 1, 0), 0);
  ASSERT_EQ(::setxattr(P("f").c_str(), "trusted.overlay.origin", "o", 1, 0), 0);
  std::vector<TarEntry> entries = ReadTar(Tar());
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].xattrs,
            (std::map<std::string, std::string>{{"user.a", "1"}, {"user.b", "2"}}));
}

TEST_F(TarWriterTest, OverlayWhiteoutsBecomeOciWhiteouts) {
  File("keep/x", "x");
  ASSERT_TRUE(MakeDirs(P("opaque")).ok());
  File("opaque/new", "n");
  ASSERT_EQ(::setxattr(P("opaque").c_str(), "trusted.overlay.opaque", "y", 1, 0), 0);
  ASSERT_EQ(::mknod(P("keep/gone").c_str(), S_IFCHR | 0, makedev(0, 0)), 0);
  TarOptions options;
  options.overlay_whiteouts = true;
  std::vector<std::string> paths;
  for (const TarEntry& e : ReadTar(Tar(options))) paths.push_back(e.path);
  EXPECT_EQ(paths, (std::vector<std::string>{"keep/", "keep/.wh.gone", "keep/x", "opaque/",
                                             "opaque/.wh..wh..opq", "opaque/new"}));
  // Without the option the device stays a device.
  std::vector<TarEntry> raw = ReadTar(Tar());
  EXPECT_EQ(raw[1].path, "keep/gone");
  EXPECT_EQ(raw[1].type, TarEntry::kCharDev);
}

TEST_F(TarWriterTest, MissingDirectoryIsAnError) {
  std::string out;
  StringWriter w(&out);
  absl::Status s = WriteLayerTar("/nonexistent/dir", {}, &w);
  EXPECT_TRUE(absl::IsNotFound(s)) << s;
}

}  // namespace
}  // namespace kiln::layers
