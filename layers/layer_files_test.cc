#include "layers/layer_files.h"

#include <string>

#include "base/io.h"
#include "gtest/gtest.h"
#include "layers/tar_test_util.h"

namespace kiln::layers {
namespace {

using testing::MakeTar;
using testing::TarEntry;

TEST(LayerFilesTest, WantedFilesWhiteoutsAndProbes) {
  std::string big_exe = std::string(100000, 'x') + "MARKER:payload" + std::string(10, 'y');
  std::vector<TarEntry> entries = {
      {TarEntry::kDir, "./etc/"},
      {TarEntry::kFile, "./etc/os-release", "ID=debian\n"},
      {TarEntry::kFile, "etc/other", "not wanted"},
      {TarEntry::kFile, "var/.wh.gone", ""},
      {TarEntry::kFile, "opt/.wh..wh..opq", ""},
      {TarEntry::kFile, "../escape", "no"},
      {TarEntry::kSymlink, "etc/link", "", "os-release"},
      {TarEntry::kFile, "bin/tool", big_exe, "", 0755},
      {TarEntry::kFile, "bin/plain", "no marker here", "", 0755},
      {TarEntry::kFile, "lib/data", "MARKER:not executable", "", 0644},
  };
  std::string tar = MakeTar(entries);
  StringReader in(tar);
  const LayerProbe probe{"MARKER:", 12};
  auto files = ReadLayerFiles(
      in, [](absl::string_view p) { return p == "etc/os-release" || p == "etc/link"; }, 1024,
      &probe);
  ASSERT_TRUE(files.ok()) << files.status();
  EXPECT_EQ(files->files.size(), 1u);
  EXPECT_EQ(files->files.at("etc/os-release"), "ID=debian\n");
  EXPECT_EQ(files->deleted, std::vector<std::string>{"var/gone"});
  EXPECT_EQ(files->opaque_dirs, std::vector<std::string>{"opt"});
  EXPECT_EQ(files->probed.at("bin/tool"), "MARKER:paylo");
  EXPECT_EQ(files->probed.at("bin/plain"), "");
  EXPECT_FALSE(files->probed.count("lib/data"));
}

TEST(LayerFilesTest, CapsAndBadInput) {
  std::string tar = MakeTar({{TarEntry::kFile, "big", std::string(2000, 'b')}});
  StringReader in(tar);
  EXPECT_FALSE(ReadLayerFiles(
                   in, [](absl::string_view) { return true; }, 1000)
                   .ok());
  std::string garbage = "this is not a tar archive at all, not even close........";
  StringReader bad(garbage);
  EXPECT_FALSE(ReadLayerFiles(
                   bad, [](absl::string_view) { return true; }, 1000)
                   .ok());
}

}  // namespace
}  // namespace kiln::layers
