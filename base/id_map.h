// The user and group id mappings of the calling process's user namespace, as
// /proc/self/uid_map and gid_map describe them. kiln runs rootless inside a user namespace it
// creates itself; the store and sandbox code ask here which ids exist and whether the process
// is in the initial namespace (real root) or in one that maps a single id.
// Thread-safe: the maps are read once per process (they cannot change after being written).
#ifndef KILN_BASE_ID_MAP_H_
#define KILN_BASE_ID_MAP_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace kiln {

struct IdRange {
  uint32_t inside = 0;   // first id in this namespace
  uint32_t outside = 0;  // the id it stands for in the parent namespace
  uint32_t count = 0;
};

class IdMap {
 public:
  // Parses the format of /proc/PID/uid_map: one "inside outside count" per line.
  static absl::StatusOr<IdMap> Parse(absl::string_view text);

  bool Contains(uint32_t id) const;
  // Every id of the parent namespace is mapped to itself: the initial user namespace.
  bool IsIdentity() const;
  // Exactly one id is mapped (an unprivileged user namespace without subordinate ids).
  bool IsSingleId() const;
  const std::vector<IdRange>& ranges() const { return ranges_; }

 private:
  std::vector<IdRange> ranges_;
};

// The maps of the calling process (identity maps if /proc cannot be read).
const IdMap& ProcessUidMap();
const IdMap& ProcessGidMap();

// True when the process is in the initial user namespace: real root has real privileges.
bool InInitialUserNamespace();

// OK when uid and gid exist in the process's user namespace; otherwise an error saying how to
// give a rootless kiln more ids.
absl::Status CheckIdsMapped(uint32_t uid, uint32_t gid);

// The extended-attribute prefix overlayfs uses on the snapshots and upper directories kiln
// mounts: "trusted.overlay." in the initial namespace, "user.overlay." inside a user namespace
// (mounted with the userxattr option, as trusted.* needs privileges there is no way to get).
std::string OverlayXattrPrefix();

}  // namespace kiln

#endif  // KILN_BASE_ID_MAP_H_
