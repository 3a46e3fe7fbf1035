#include "layers/image_diff.h"

#include "base/io.h"
#include "gtest/gtest.h"
#include "layers/tar_test_util.h"

namespace kiln::layers {
namespace {

using testing::MakeTar;
using testing::TarEntry;

std::vector<FileDifference> Diff(const std::vector<TarEntry>& a, const std::vector<TarEntry>& b) {
  const std::string ta = MakeTar(a), tb = MakeTar(b);
  StringReader ra(ta), rb(tb);
  absl::StatusOr<std::vector<FileDifference>> d = DiffLayers(ra, rb);
  EXPECT_TRUE(d.ok()) << d.status();
  return d.ok() ? *d : std::vector<FileDifference>{};
}

TarEntry File(const std::string& path, const std::string& data, int64_t mtime = 0) {
  TarEntry e;
  e.path = path;
  e.data = data;
  e.mtime = mtime;
  return e;
}

TEST(DiffLayersTest, EachKindOfDifference) {
  TarEntry link_a{TarEntry::kSymlink, "bin/sh", "", "busybox"};
  TarEntry link_b = link_a;
  link_b.target = "dash";
  TarEntry owned = File("etc/shadow", "root:*:1::::::\n");
  TarEntry owned_b = owned;
  owned_b.gid = 42;
  owned_b.mode = 0640;
  TarEntry attr = File("bin/ping", "ELF");
  TarEntry attr_b = attr;
  attr_b.xattrs = {{"security.capability", std::string("\x01\x00\x00\x02", 4)}};
  std::vector<FileDifference> d =
      Diff({File("etc/motd", "hello\n"), link_a, owned, attr, File("gone", "x"),
            File("var/log/dpkg.log", "a\nb\n", 100), File("same", "s")},
           {File("etc/motd", "hello\n", 200), link_b, owned_b, attr_b, File("new", "y"),
            File("var/log/dpkg.log", "a\nb\nc\n", 100), File("same", "s")});
  ASSERT_EQ(d.size(), 7u);
  EXPECT_EQ(d[0].path, "/bin/ping");
  EXPECT_EQ(d[0].kinds, (std::vector<std::string>{"xattr"}));
  EXPECT_EQ(d[1].path, "/bin/sh");
  EXPECT_EQ(d[1].kinds, (std::vector<std::string>{"link target"}));
  EXPECT_EQ(d[2].path, "/etc/motd");
  EXPECT_EQ(d[2].kinds, (std::vector<std::string>{"mtime"}));
  EXPECT_EQ(d[3].path, "/etc/shadow");
  EXPECT_EQ(d[3].kinds, (std::vector<std::string>{"mode", "owner"}));
  EXPECT_EQ(d[4].kinds, (std::vector<std::string>{"removed"}));
  EXPECT_EQ(d[5].kinds, (std::vector<std::string>{"added"}));
  EXPECT_EQ(d[6].path, "/var/log/dpkg.log");
  EXPECT_EQ(d[6].kinds, (std::vector<std::string>{"content"}));
  EXPECT_EQ(d[6].diff,
            "--- a/var/log/dpkg.log\n+++ b/var/log/dpkg.log\n@@ -1,2 +1,3 @@\n a\n b\n+c\n");
  std::string text = FormatFiles(d, "");
  EXPECT_NE(text.find("mode,owner /etc/shadow: mode 0644 -> 0640; owner 0:0 -> 0:42\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("mtime /etc/motd: 1970-01-01T00:00:00Z -> 1970-01-01T00:03:20Z\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("    +c\n"), std::string::npos) << text;
  nlohmann::json j = FilesJson(d);
  EXPECT_EQ(j[3]["b"]["mode"], "0640");
  EXPECT_TRUE(j[4]["b"].is_null());
  EXPECT_EQ(j[0]["b"]["xattrs"]["security.capability"], 4);
}

TEST(DiffLayersTest, BinaryFilesHaveNoTextDiffAndTypesChange) {
  TarEntry dir{TarEntry::kDir, "x"};
  dir.mode = 0755;
  std::vector<FileDifference> d = Diff({File("bin", std::string("\0\1", 2)), File("x", "file")},
                                       {File("bin", std::string("\0\2", 2)), dir});
  ASSERT_EQ(d.size(), 2u);
  EXPECT_EQ(d[0].kinds, (std::vector<std::string>{"content"}));
  EXPECT_EQ(d[0].diff, "");
  EXPECT_EQ(d[1].kinds, (std::vector<std::string>{"type", "mode"}));
}

TEST(DiffLayersTest, WhiteoutsAreTheirPaths) {
  std::vector<FileDifference> d = Diff({File("etc/.wh.old", "")}, {File("etc/old", "back")});
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].path, "/etc/old");
  EXPECT_EQ(d[0].kinds, (std::vector<std::string>{"type"}));
  EXPECT_EQ(d[0].a->type, 'w');
}

TEST(DiffLayersTest, NotATarIsAnError) {
  const std::string junk(1000, 'x'), tar = MakeTar({File("a", "b")});
  StringReader a(junk), b(tar);
  EXPECT_FALSE(DiffLayers(a, b).ok());
}

}  // namespace
}  // namespace kiln::layers
