// A seccomp profile compiled for one step: the rules that apply to the step's capabilities,
// the native architecture (plus the sub-architectures the profile names) and the running
// kernel, turned into a classic BPF program by libseccomp. Syscalls newer than libseccomp
// knows are matched by number ahead of its program, and numbers past the newest known syscall
// answer ENOSYS, so a newer libc in the image falls back instead of failing with EPERM.
// A SeccompFilter is an immutable value, built before clone(); Install() only makes the one
// syscall, so the sandbox child may call it.
#ifndef KILN_BUILDER_SANDBOX_SECCOMP_FILTER_H_
#define KILN_BUILDER_SANDBOX_SECCOMP_FILTER_H_

#include <linux/filter.h>

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "builder/sandbox/capabilities.h"
#include "builder/sandbox/seccomp_profile.h"

namespace kiln::builder::sandbox {

class SeccompFilter {
 public:
  // `caps` is the set the step will hold (rules are included or excluded by it).
  static absl::StatusOr<SeccompFilter> Compile(const SeccompProfile& profile,
                                               const CapabilitySet& caps);

  // Installs the filter on the calling thread. REQUIRES: no_new_privs is set (or the caller
  // has CAP_SYS_ADMIN). Returns 0 or an errno value; allocates nothing.
  int Install() const;

  size_t instruction_count() const { return program_.size(); }

 private:
  std::vector<sock_filter> program_;
};

// The native architecture in Go's (and Docker's profile) spelling: "amd64", "arm64", ...
std::string NativeGoArch();

}  // namespace kiln::builder::sandbox

#endif  // KILN_BUILDER_SANDBOX_SECCOMP_FILTER_H_
