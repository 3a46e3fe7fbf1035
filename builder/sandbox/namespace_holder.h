// A new namespace, held by a descriptor: a short-lived child (cloned from a possibly
// multi-threaded kiln, so it makes only syscalls) joins a user namespace if asked, unshares
// the namespace, and waits while the caller configures it (writes its id maps, ...); then the
// caller opens /proc/CHILD/ns/NAME and the child exits. Thread-safe.
#ifndef KILN_BUILDER_SANDBOX_NAMESPACE_HOLDER_H_
#define KILN_BUILDER_SANDBOX_NAMESPACE_HOLDER_H_

#include <sys/types.h>

#include <functional>

#include "absl/status/statusor.h"
#include "base/unique_fd.h"

namespace kiln::builder::sandbox {

// `unshare_flags` is one CLONE_NEW* flag, `ns_name` its /proc/PID/ns name ("user", "net").
// With `join_userns_fd` >= 0 the child first joins that user namespace, which then owns the
// new namespace. `configure`, if given, runs in the caller with the child's pid before the
// namespace is opened.
absl::StatusOr<UniqueFd> NewNamespace(int unshare_flags, const char* ns_name, int join_userns_fd,
                                      const std::function<absl::Status(pid_t)>& configure = {});

}  // namespace kiln::builder::sandbox

#endif  // KILN_BUILDER_SANDBOX_NAMESPACE_HOLDER_H_
