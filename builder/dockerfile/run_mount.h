// The value of `RUN --mount=...`: comma-separated key=value fields as BuildKit reads them
// (type=bind|cache|tmpfs|secret|ssh, target/dst/destination, source/src, from, id, ro/readonly,
// rw/readwrite, sharing, mode, uid, gid, size). Stateless.
#ifndef KILN_BUILDER_DOCKERFILE_RUN_MOUNT_H_
#define KILN_BUILDER_DOCKERFILE_RUN_MOUNT_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace kiln::builder::dockerfile {

inline constexpr size_t kMaxMountSpec = 4096;

struct RunMount {
  std::string type = "bind";
  std::string target;
  std::string source;  // bind: a path in `from` (default: its root)
  std::string from;    // bind: a stage or image; empty: the build context
  std::string id;      // cache: which cache (default: the target)
  bool read_only;      // bind: default true; cache/tmpfs: default false
  std::string sharing = "shared";
};

// InvalidArgument naming the field for malformed values, unknown keys or a missing target.
absl::StatusOr<RunMount> ParseRunMount(absl::string_view spec);

}  // namespace kiln::builder::dockerfile

#endif  // KILN_BUILDER_DOCKERFILE_RUN_MOUNT_H_
