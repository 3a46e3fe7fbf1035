// Writes a directory tree as a deterministic layer tar (reproducibility rules of the design):
// entries in depth-first order with each directory's children sorted by name; numeric uid/gid
// with empty user and group names; no atime/ctime; mtimes in whole seconds, clamped to the
// source date when one is given; PAX headers only where ustar cannot hold a field; hardlinks
// kept; extended attributes kept (sorted), except overlayfs' own and SELinux labels.
// Sockets are skipped (tar cannot hold them). Stateless; each call is independent.
#ifndef KILN_LAYERS_TAR_WRITER_H_
#define KILN_LAYERS_TAR_WRITER_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "base/io.h"

namespace kiln::layers {

struct TarOptions {
  // Clamp every mtime to at most this many seconds since the epoch.
  std::optional<int64_t> source_date_epoch;
  // The tree is an overlayfs upper directory: 0/0 character devices become ".wh.NAME" entries
  // and directories marked opaque (trusted.overlay.opaque or user.overlay.opaque = "y") gain a
  // ".wh..wh..opq" entry, as the OCI layer spec has it.
  bool overlay_whiteouts = false;
};

// Writes the tar of everything below `dir` (not `dir` itself) to `out`; does not Close `out`.
absl::Status WriteLayerTar(const std::string& dir, const TarOptions& options, Writer* out);

}  // namespace kiln::layers

#endif  // KILN_LAYERS_TAR_WRITER_H_
