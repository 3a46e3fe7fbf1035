// A seccomp profile in the terms of Docker's JSON format (moby's profiles/seccomp): a default
// action, the architectures it covers, and rules naming syscalls with an action, optional
// argument conditions, and conditions on the step's capabilities, architecture and kernel
// that include or exclude the rule. DefaultSeccompProfile() is kiln's equivalent of Docker's
// default profile; ParseSeccompProfile reads a user's profile (`--security-opt seccomp=FILE`).
// Values only; thread-safe as any value. Compiling a profile to BPF is seccomp_filter.h.
#ifndef KILN_BUILDER_SANDBOX_SECCOMP_PROFILE_H_
#define KILN_BUILDER_SANDBOX_SECCOMP_PROFILE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace kiln::builder::sandbox {

enum class SeccompAction { kKillThread, kKillProcess, kTrap, kErrno, kTrace, kAllow, kLog };

struct SeccompArg {
  enum class Op {
    kNotEqual,
    kLessThan,
    kLessOrEqual,
    kEqual,
    kGreaterOrEqual,
    kGreaterThan,
    kMaskedEqual
  };
  unsigned index = 0;  // 0..5
  uint64_t value = 0;
  uint64_t value_two = 0;  // kMaskedEqual: the value the masked argument must equal
  Op op = Op::kEqual;
};

// When a rule applies: every listed capability held (includes) or none of them (excludes),
// the native architecture listed or not, the running kernel at least `min_kernel`.
struct SeccompCondition {
  std::vector<std::string> caps;    // "CAP_SYS_ADMIN"
  std::vector<std::string> arches;  // Go's names: "amd64", "arm64", "x86", "s390x", ...
  std::string min_kernel;           // "4.8"; includes only
};

struct SeccompRule {
  std::vector<std::string> names;
  SeccompAction action = SeccompAction::kAllow;
  std::optional<int> errno_ret;  // kErrno/kTrace: the value; else the profile's default
  std::vector<SeccompArg> args;
  SeccompCondition includes, excludes;
};

struct SeccompProfile {
  SeccompAction default_action = SeccompAction::kErrno;
  int default_errno = 1;  // EPERM
  // SCMP_ARCH_* names the filter covers besides the native one. Empty: the native
  // architecture and the sub-architectures arch_map gives it.
  std::vector<std::string> architectures;
  struct ArchMapEntry {
    std::string architecture;
    std::vector<std::string> sub_architectures;
  };
  std::vector<ArchMapEntry> arch_map;
  std::vector<SeccompRule> syscalls;
};

// kiln's default: the allow-list of Docker's default profile (everything else fails with
// EPERM), with its argument rules (clone without namespace flags, clone3 answering ENOSYS,
// socket without AF_VSOCK, personality only for the harmless personas) and the calls each
// extra capability unlocks; io_uring is not allowed (as in Docker since 25.0).
const SeccompProfile& DefaultSeccompProfile();

// Largest profile file accepted.
inline constexpr uint64_t kMaxSeccompProfileSize = 1 << 20;

// Parses Docker's JSON profile format. Fields a filter cannot honour here (a notify listener)
// and malformed documents are InvalidArgument errors saying which field is wrong.
absl::StatusOr<SeccompProfile> ParseSeccompProfile(absl::string_view json);

}  // namespace kiln::builder::sandbox

#endif  // KILN_BUILDER_SANDBOX_SECCOMP_PROFILE_H_
