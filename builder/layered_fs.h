// A read-only view of an image's root filesystem as a stack of unpacked layers (snapshot
// directories in overlayfs format, topmost first), answered the way the overlay mount would:
// whiteouts (0/0 character devices) hide what is below, opaque directories (overlay "opaque"
// xattr) hide the lower directories' content, the topmost non-directory wins. Used to look
// into an image without mounting it: where COPY's destination really is (symlinks in the image
// are followed, staying inside the root), which metadata existing directories have, and
// files such as /etc/passwd. Thread-compatible.
#ifndef KILN_BUILDER_LAYERED_FS_H_
#define KILN_BUILDER_LAYERED_FS_H_

#include <sys/stat.h>

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace kiln::builder {

class LayeredFs {
 public:
  explicit LayeredFs(std::vector<std::string> layers) : layers_(std::move(layers)) {}

  struct Entry {
    std::string host_path;  // where the entry lives, in the layer that provides it
    struct stat st;
  };

  // The entry at the clean absolute path `path`, symlinks not followed anywhere (so `path`
  // should come from Resolve); nullopt when absent or hidden.
  std::optional<Entry> Lookup(absl::string_view path) const;

  // `path` (absolute, or relative to /) with every symlink in its directories followed, and in
  // its last component too when `follow_last`; ".." never leaves the root. The result is clean
  // and absolute; components that do not exist are kept as they are.
  absl::StatusOr<std::string> Resolve(absl::string_view path, bool follow_last) const;

  // The content of a regular file (symlinks followed), at most `max_size` bytes.
  std::optional<std::string> ReadFile(absl::string_view path, size_t max_size = 16 << 20) const;

 private:
  bool IsOpaque(const std::string& host_dir) const;
  std::vector<std::string> layers_;
};

}  // namespace kiln::builder

#endif  // KILN_BUILDER_LAYERED_FS_H_
