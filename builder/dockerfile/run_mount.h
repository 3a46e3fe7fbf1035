// The value of `RUN --mount=...` as BuildKit reads it: CSV fields (a field may be quoted),
// key=value pairs with lower-cased keys (type=bind|cache|tmpfs|secret|ssh,
// target/dst/destination, source/src, from, id, ro/readonly, rw/readwrite, sharing, mode, uid,
// gid, size, required, env), BuildKit's defaults and BuildKit's errors. Stateless.
#ifndef KILN_BUILDER_DOCKERFILE_RUN_MOUNT_H_
#define KILN_BUILDER_DOCKERFILE_RUN_MOUNT_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace kiln::builder::dockerfile {

inline constexpr size_t kMaxMountSpec = 4096;

enum class MountType { kBind, kCache, kTmpfs, kSecret, kSsh };

// "bind", "cache", ...: as the Dockerfile spells it.
const char* MountTypeName(MountType type);

struct RunMount {
  MountType type = MountType::kBind;
  std::string target;
  std::string source;  // a path in `from` (default: its root); secret: the secret's id
  std::string from;    // bind, cache: a stage or image; empty: the build context (cache: empty)
  std::string id;      // cache: which cache (default: the target)
  bool read_only;      // bind: default true; cache, tmpfs: default false
  std::string sharing = "shared";
  std::optional<uint32_t> mode, uid, gid;  // cache, secret, ssh: of the mounted directory/file
  std::optional<uint64_t> size;            // tmpfs: its size limit in bytes
  bool required = false;                   // secret, ssh
  std::optional<std::string> env;          // secret: the variable it is exposed as
};

// Expands the value of every key=value field with `expand` (keys and bare flags stay as
// written) and gives the value back in the same CSV form. A `from` with a variable in it is
// BuildKit's error: "'from' doesn't support variable expansion, define alias stage instead".
absl::StatusOr<std::string> ExpandRunMount(
    absl::string_view spec,
    const std::function<absl::StatusOr<std::string>(const std::string&)>& expand);

// InvalidArgument with BuildKit's words for malformed values, unknown keys (with a
// suggestion) or keys the type does not take. An empty target is the working directory.
absl::StatusOr<RunMount> ParseRunMount(absl::string_view spec);

// Docker's sizes ("128m", "1.5GiB", "4096"), as go-units' RAMInBytes reads them.
absl::StatusOr<uint64_t> ParseRamBytes(absl::string_view text);

}  // namespace kiln::builder::dockerfile

#endif  // KILN_BUILDER_DOCKERFILE_RUN_MOUNT_H_
