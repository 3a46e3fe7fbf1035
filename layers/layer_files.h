// Selected files of a layer tar (any compression), read without unpacking it: what the SBOM
// needs from an image (package databases, os-release). Whiteouts are reported as deletions,
// ".wh..wh..opq" as an opaque directory. Paths are cleaned ("./a/b" -> "a/b"); members with
// ".." are skipped. Only regular files are read, each capped at `max_file_size`.
#ifndef KILN_LAYERS_LAYER_FILES_H_
#define KILN_LAYERS_LAYER_FILES_H_

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
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
  std::map<std::string, std::string> files;  // wanted regular files: path -> content
  // Every executable regular file: the bytes from the probe's marker on (empty without it).
  std::map<std::string, std::string> probed;
  std::vector<std::string> deleted;      // whiteouts: the paths they delete
  std::vector<std::string> opaque_dirs;  // directories whose lower contents go
};

// Reads `layer` to its end (so a verifying reader checks it all), keeping the regular files
// `wanted` accepts. A wanted file larger than `max_file_size` is an error.
absl::StatusOr<LayerFiles> ReadLayerFiles(Reader& layer,
                                          const std::function<bool(absl::string_view)>& wanted,
                                          size_t max_file_size, const LayerProbe* probe = nullptr);

// One member of a layer tar as `kiln diff` compares it.
struct LayerEntry {
  // 'f' regular file, 'd' directory, 'l' symlink, 'h' hard link, 'c'/'b' device, 'p' fifo,
  // 'w' whiteout (the path it deletes is the key), 'o' opaque-directory marker (the directory).
  char type = 'f';
  uint32_t mode = 0;  // permission bits, setuid/setgid/sticky included
  int64_t uid = 0, gid = 0;
  int64_t size = 0;
  int64_t mtime = 0;  // seconds
  int64_t mtime_nsec = 0;
  uint64_t rdev_major = 0, rdev_minor = 0;
  std::string link;  // a symlink's or hard link's target
  std::map<std::string, std::string> xattrs;
  std::string sha256;  // of a regular file's content, hex
  // A regular file's content when it is at most the listing's text cap and holds no NUL.
  std::optional<std::string> text;
};

// Every member of `layer` (any compression) by cleaned path, read to its end. Regular files
// are hashed; those of at most `max_text` bytes that look like text are kept.
absl::StatusOr<std::map<std::string, LayerEntry>> ListLayer(Reader& layer, size_t max_text);

}  // namespace kiln::layers

#endif  // KILN_LAYERS_LAYER_FILES_H_
