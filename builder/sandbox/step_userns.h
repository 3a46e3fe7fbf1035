// Root in a RUN step is not root on the host: kiln started as root runs every step in a user
// namespace that maps the image's ids 0..N-1 to an unprivileged host range (root's entry in
// /etc/subuid and /etc/subgid, else kiln's default range, checked unused). The layers the
// step sees and the directory it writes are idmapped mounts (MOUNT_ATTR_IDMAP) through the
// same mapping, so files keep the image's own ids on disk and layers are byte-identical to
// those of a step run without the namespace.
// StepUserNamespace is created once per process and shared by every step (thread-safe: it
// only hands out its descriptor). IdmappedTree may be called from any thread.
#ifndef KILN_BUILDER_SANDBOX_STEP_USERNS_H_
#define KILN_BUILDER_SANDBOX_STEP_USERNS_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "base/unique_fd.h"

namespace kiln::builder::sandbox {

// kiln's own range when root has none in /etc/subuid: host ids 1879048192 (0x70000000) to
// 1879113727, a span systemd's UID allocation table leaves unused by anything.
inline constexpr uint32_t kDefaultStepIdBase = 0x70000000;
inline constexpr uint32_t kStepIdCount = 65536;

struct StepIdRange {
  uint32_t uid_base = 0;  // host uid of the step's root
  uint32_t gid_base = 0;
  uint32_t count = 0;  // ids 0..count-1 exist in the step
};

// Root's range from the contents of /etc/subuid and /etc/subgid ("root:START:COUNT" or
// "0:START:COUNT", the first of each; the count is the smaller of the two), else the default
// range, which must overlap no user or group of /etc/passwd and /etc/group and no other
// subordinate range. An error names the id in the way and the fix.
absl::StatusOr<StepIdRange> ChooseStepIds(absl::string_view passwd, absl::string_view group,
                                          absl::string_view subuid, absl::string_view subgid);

class StepUserNamespace {
 public:
  // The namespace for `range`, made by a short-lived child whose maps kiln writes.
  static absl::StatusOr<std::unique_ptr<StepUserNamespace>> Create(const StepIdRange& range);
  // The process-wide namespace, from the host's files; made at the first call.
  static absl::StatusOr<const StepUserNamespace*> ForThisHost();

  int fd() const { return fd_.get(); }  // an open /proc/PID/ns/user
  const StepIdRange& range() const { return range_; }

 private:
  StepUserNamespace() = default;
  UniqueFd fd_;
  StepIdRange range_;
};

// A detached copy of the mount tree at `path` (recursive) whose ids are shown through
// `userns_fd`'s mapping, plus `attr_set` (MOUNT_ATTR_NODEV, ...). `userns_fd` < 0: no idmap.
absl::StatusOr<UniqueFd> DetachedTree(const std::string& path, int userns_fd, uint64_t attr_set);

}  // namespace kiln::builder::sandbox

#endif  // KILN_BUILDER_SANDBOX_STEP_USERNS_H_
