// Safe extraction of a layer tar (any compression libarchive reads) into a directory.
// Every path is resolved inside the target with openat2(RESOLVE_IN_ROOT): "..", absolute
// paths, symlinks and hardlinks cannot make it write outside the target. Members with ".."
// components are rejected; an existing symlink is replaced, never written through.
// Whiteouts (".wh.NAME", ".wh..wh..opq") are applied (lower content removed) or, for overlay
// lower directories, turned into overlayfs whiteouts (0/0 character devices, opaque xattr).
// Stateless; concurrent extractions into the same directory are not supported.
#ifndef KILN_LAYERS_EXTRACT_H_
#define KILN_LAYERS_EXTRACT_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "base/io.h"

namespace kiln::layers {

enum class WhiteoutMode {
  kApply,    // delete what the whiteout names (an unpacked root filesystem)
  kOverlay,  // record it as an overlayfs whiteout (a snapshot used as an overlay lower dir)
  kLiteral,  // no whiteouts: ".wh." names are ordinary files (archives that are not layers)
};

enum class DevicePolicy { kReject, kSkip, kCreate };

struct ExtractOptions {
  WhiteoutMode whiteouts = WhiteoutMode::kApply;
  DevicePolicy devices = DevicePolicy::kSkip;
  // Apply uid/gid from the archive (needs CAP_CHOWN). Default: when running as root. Inside a
  // user namespace that lacks an owner's id, that entry stays owned by root.
  bool preserve_owner;
  uint64_t max_entries = 4'000'000;
  uint64_t max_total_bytes = uint64_t{1} << 40;  // 1 TiB of file content
  ExtractOptions();
};

struct ExtractStats {
  uint64_t entries = 0;
  uint64_t bytes = 0;
  uint64_t skipped_devices = 0;
  uint64_t unmapped_owners = 0;  // entries left owned by root (see preserve_owner)
};

// Extracts the layer read from `in` into existing directory `target`. Errors name the member.
// `in` is read to its end, so a verifying reader checks every byte; an error may come after
// entries were written, so callers that need all-or-nothing extract into a fresh directory.
absl::StatusOr<ExtractStats> ExtractLayer(Reader& in, const std::string& target,
                                          const ExtractOptions& options);

}  // namespace kiln::layers

#endif  // KILN_LAYERS_EXTRACT_H_
