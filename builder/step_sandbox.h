// What every RUN step of a build is given, from the build's options (`kiln build --network,
// --userns, --security-opt, --cap-add/--cap-drop, --ulimit, --add-host, --shm-size, --memory,
// --cpus, --pids-limit, --allow, --hostname`) and the step's own flags (RUN --network, --security):
// its network (private by default), user namespace, capabilities, seccomp filter, cgroup and
// limits, and the /etc/resolv.conf and /etc/hosts it sees.
//
// A Dockerfile is not trusted to lower the walls: RUN --network=host needs
// `--allow network.host` and RUN --security=insecure `--allow security.insecure`, as with
// BuildKit. Insecure steps get every capability and no seccomp filter, and /proc and /sys are
// not masked, but they keep their namespaces (the user namespace included), cgroup and
// device allow-list.
//
// StepSandboxes is made once per build and is thread-safe (steps of concurrent stages ask
// for sandboxes at once); a StepResources belongs to the step it was prepared for.
#ifndef KILN_BUILDER_STEP_SANDBOX_H_
#define KILN_BUILDER_STEP_SANDBOX_H_

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "builder/sandbox/cgroup.h"
#include "builder/sandbox/emulation.h"
#include "builder/sandbox/network.h"
#include "builder/sandbox/sandbox.h"
#include "builder/sandbox/seccomp_filter.h"

namespace kiln::builder {

enum class StepNetwork { kDefault, kNone, kHost };

// The build's options as the command line gives them; checked by StepSandboxes::Create.
struct SandboxOptions {
  StepNetwork network = StepNetwork::kDefault;
  bool userns_host = false;                // --userns=host
  std::vector<std::string> allow;          // network.host, security.insecure
  std::vector<std::string> security_opts;  // seccomp=unconfined|FILE, no-new-privileges
  std::vector<std::string> cap_add, cap_drop;
  std::vector<std::string> ulimits;    // NAME=SOFT[:HARD]
  std::vector<std::string> add_hosts;  // NAME:IP (IP may be host-gateway)
  std::string hostname = "kiln";       // --hostname, or the BUILDKIT_SANDBOX_HOSTNAME build arg
  std::optional<std::string> shm_size;
  std::optional<std::string> memory, memory_swap;
  std::optional<uint64_t> cpu_shares;
  std::optional<double> cpus;
  std::optional<int64_t> pids_limit;
};

// "nofile=1024:2048", "nproc=512", "core=unlimited" (Docker's --ulimit).
absl::StatusOr<sandbox::SandboxRlimit> ParseUlimit(absl::string_view text);
// "db.internal:10.1.2.3", "v6:[::1]" or "v6:::1" (Docker's --add-host) → "IP\tNAME".
absl::StatusOr<std::string> ParseAddHost(absl::string_view text, absl::string_view gateway);

// A step's hold on what it was lent: its network namespace and its cgroup, returned and
// removed when this is destroyed.
class StepResources {
 public:
  // When the step failed: "RUN was killed: out of memory (limit 512 MiB)" if the OOM killer
  // ended it, else nullopt.
  std::optional<std::string> OutOfMemory() const;

 private:
  friend class StepSandboxes;
  std::optional<sandbox::NetworkPool::Lease> lease_;
  std::unique_ptr<sandbox::StepCgroup> cgroup_;
};

class StepSandboxes {
 public:
  // `work_dir` (the build's own) receives the generated resolv.conf and hosts files.
  static absl::StatusOr<std::unique_ptr<StepSandboxes>> Create(const SandboxOptions& options,
                                                               const std::string& work_dir);

  // The network a RUN with `flags` gets, or why it may not have it.
  absl::StatusOr<StepNetwork> NetworkFor(
      const std::map<std::string, std::vector<std::string>>& flags) const;
  // Whether it runs insecure, or why it may not.
  absl::StatusOr<bool> InsecureFor(
      const std::map<std::string, std::vector<std::string>>& flags) const;

  // What a RUN for `platform` needs to run its binaries (sandbox::EmulationFor: the register
  // lines of a private binfmt_misc, or none), or why it cannot run here. Decided once per
  // platform.
  absl::StatusOr<std::vector<std::string>> EmulationFor(const oci::Platform& platform);

  // Fills in the security and network fields of `spec` for a RUN with `flags`.
  absl::StatusOr<std::unique_ptr<StepResources>> Prepare(
      const std::map<std::string, std::vector<std::string>>& flags, sandbox::SandboxSpec* spec);

  // Said once per build, when it applies (no cgroups here, ...).
  const std::vector<std::string>& warnings() const { return warnings_; }

 private:
  StepSandboxes() = default;
  bool Allowed(absl::string_view entitlement) const;

  SandboxOptions options_;
  const sandbox::StepUserNamespace* userns_ = nullptr;
  sandbox::CapabilitySet capabilities_;
  std::optional<sandbox::SeccompFilter> seccomp_;  // none: unconfined
  std::vector<sandbox::SandboxRlimit> rlimits_;
  uint64_t shm_size_ = 64 << 20;
  sandbox::ResourceLimits limits_;
  sandbox::Cgroups* cgroups_ = nullptr;  // process-wide; null when unusable
  std::string private_resolv_conf_, private_hosts_, host_hosts_;
  std::unique_ptr<sandbox::NetworkPool> pool_;
  std::mutex pool_mu_;
  std::vector<std::string> warnings_;
  std::mutex emulation_mu_;
  std::map<std::string, absl::StatusOr<std::vector<std::string>>> emulation_;  // by platform
};

}  // namespace kiln::builder

#endif  // KILN_BUILDER_STEP_SANDBOX_H_
