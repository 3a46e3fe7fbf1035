// Fuzz target: extracting any byte sequence as a layer (in every whiteout mode) must never
// crash and never write outside the target directory; reading its files without unpacking it
// (layers/layer_files.h, with a marker probe) must never crash either.
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <string>

#include "base/file_util.h"
#include "layers/extract.h"
#include "layers/layer_files.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string base = [] {
    auto dir = kiln::MakeTempDir("/tmp/kiln-extract-fuzz-");
    if (!dir.ok()) std::abort();
    return *dir;
  }();
  const std::string target = base + "/target";
  const std::string canary = base + "/canary";
  (void)kiln::RemoveAll(target);
  if (::mkdir(target.c_str(), 0755) != 0) std::abort();
  for (auto mode : {kiln::layers::WhiteoutMode::kApply, kiln::layers::WhiteoutMode::kOverlay}) {
    kiln::StringReader reader(absl::string_view(reinterpret_cast<const char*>(data), size));
    kiln::layers::ExtractOptions options;
    options.whiteouts = mode;
    options.max_entries = 10000;
    options.max_total_bytes = 64 << 20;
    (void)kiln::layers::ExtractLayer(reader, target, options);
  }
  {
    kiln::StringReader reader(absl::string_view(reinterpret_cast<const char*>(data), size));
    const kiln::layers::LayerProbe probe{"MARK", 64};
    (void)kiln::layers::ReadLayerFiles(
        reader, [](absl::string_view p) { return p.size() % 2 == 0; }, 1 << 20, &probe);
  }
  // Anything written beside the target is an escape.
  if (kiln::PathExists(canary)) std::abort();
  for (const char* name : {"/etc", "/x", "/outside"}) {
    if (kiln::PathExists(base + name)) std::abort();
  }
  return 0;
}
