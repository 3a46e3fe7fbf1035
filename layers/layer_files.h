// Selected files of a layer tar (any compression), read without unpacking it: what the SBOM
// needs from an image (package databases, os-release). Whiteouts are reported as deletions,
// ".wh..wh..opq" as an opaque directory. Paths are cleaned ("./a/b" -> "a/b"); members with
// ".." are skipped. Only regular files are read, each capped at `max_file_size`.
#ifndef KILN_LAYERS_LAYER_FILES_H_
#define KILN_LAYERS_LAYER_FILES_H_

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "base/io.h"

namespace kiln::layers {

// A marker looked for in executable regular files (Go's build info): the bytes from it on,
// `keep` of them, are kept for each file that holds it.
struct LayerProbe {
  std::string marker;
  size_t keep = 0;
};

struct LayerFiles {
  std::map<std::string, std::string> files;   // wanted regular files: path -> content
  // Every executable regular file: the bytes from the probe's marker on (empty without it).
  std::map<std::string, std::string> probed;
  std::vector<std::string> deleted;           // whiteouts: the paths they delete
  std::vector<std::string> opaque_dirs;       // directories whose lower contents go
};

// Reads `layer` to its end (so a verifying reader checks it all), keeping the regular files
// `wanted` accepts. A wanted file larger than `max_file_size` is an error.
absl::StatusOr<LayerFiles> ReadLayerFiles(Reader& layer,
                                          const std::function<bool(absl::string_view)>& wanted,
                                          size_t max_file_size, const LayerProbe* probe = nullptr);

}  // namespace kiln::layers

#endif  // KILN_LAYERS_LAYER_FILES_H_
