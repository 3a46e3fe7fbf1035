// A cgroup per RUN step: its processes are accounted and limited (memory, swap, CPU, number
// of tasks), may open only the devices DefaultDeviceRules() allows, and are killed as a whole
// when the step ends. Works on cgroup v2 (one unified hierarchy: limits through the memory,
// pids and cpu controllers, devices through a BPF program) and on v1 or hybrid hosts (each
// controller's own hierarchy, devices through devices.allow).
//
// Where step cgroups go: below kiln's own cgroup on v1 (nothing forbids it there); on v2 below
// kiln's own cgroup when its controllers can be enabled there, else (as root) below /kiln at
// the top of the hierarchy, as container engines do. Rootless, only a delegated v2 sub-tree
// (kiln's cgroup writable by the user) is used; otherwise Cgroups::Available() is false and
// steps run without limits.
// Cgroups is thread-safe (steps of concurrent stages create cgroups at once); a StepCgroup
// belongs to the thread running its step.
#ifndef KILN_BUILDER_SANDBOX_CGROUP_H_
#define KILN_BUILDER_SANDBOX_CGROUP_H_

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "base/unique_fd.h"
#include "builder/sandbox/device_filter.h"

namespace kiln::builder::sandbox {

// Processes and threads a step may have when --pids-limit is not given.
inline constexpr int64_t kDefaultPidsLimit = 4096;

struct ResourceLimits {
  std::optional<int64_t> memory_bytes;       // --memory
  std::optional<int64_t> memory_swap_bytes;  // --memory-swap: memory plus swap; -1 unlimited
  std::optional<uint64_t> cpu_shares;        // --cpu-shares (relative weight, default 1024)
  std::optional<double> cpus;                // --cpus: CPU time as a number of cores
  int64_t pids_limit = kDefaultPidsLimit;    // --pids-limit; -1 unlimited
};

// "512m", "1g", "1048576", "100k" → bytes (Docker's units, binary multiples). Errors name the
// flag.
absl::StatusOr<int64_t> ParseMemorySize(absl::string_view text, absl::string_view flag);

// One control file a limit sets: on v1 in `controller`'s hierarchy, on v2 in the step's
// directory. `optional` settings are skipped where the file does not exist (swap accounting
// may be off; pids has a default); a missing required one is an error naming `flag`.
struct ControlSetting {
  std::string controller;  // memory, pids, cpu
  std::string file;        // memory.max, cpu.cfs_quota_us, ...
  std::string value;
  std::string flag;  // --memory
  bool optional = false;
};
// The settings `limits` make; with a non-empty `controller`, only that controller's.
std::vector<ControlSetting> LimitSettings(const ResourceLimits& limits, bool unified,
                                          const std::string& controller);

class StepCgroup;

class Cgroups {
 public:
  // Reads where the hierarchies are mounted and where this process sits in them, from
  // `proc_dir` (normally /proc/self) and the mounts it lists. Never fails: when nothing is
  // usable, Available() is false and Why() says what is missing.
  static std::unique_ptr<Cgroups> Detect(const std::string& proc_dir = "/proc/self");
  // For tests: a cgroup v2 hierarchy at `unified_root` (a directory laid out as cgroupfs
  // would be), with this process at `own_path`.
  static std::unique_ptr<Cgroups> ForUnified(const std::string& unified_root,
                                             const std::string& own_path);

  bool Available() const { return available_; }
  bool Unified() const { return unified_; }
  const std::string& Why() const { return why_; }
  // "cgroup v1 (memory, pids, cpu, devices)" or "cgroup v2 at /sys/fs/cgroup/kiln".
  std::string Describe() const;

  // A new cgroup for one step with `limits` and the device rules applied.
  // REQUIRES: Available().
  absl::StatusOr<std::unique_ptr<StepCgroup>> CreateStep(const ResourceLimits& limits,
                                                         const std::vector<DeviceRule>& devices);

 private:
  Cgroups() = default;
  absl::Status PrepareUnifiedBase();

  bool available_ = false;
  bool unified_ = false;
  std::string why_;
  // v2: the directory step cgroups are made in, and whether device programs can be attached.
  std::string unified_mount_;
  std::string unified_base_;
  bool bpf_devices_ = false;
  std::vector<std::string> unified_controllers_;  // enabled for steps: memory pids cpu
  // v1: controller name → the directory of this process's cgroup in that hierarchy.
  std::map<std::string, std::string> v1_dirs_;
  std::atomic<int> next_{0};
};

class StepCgroup {
 public:
  ~StepCgroup();  // kills what is left and removes the cgroup directories

  // Descriptors of the cgroup.procs files a process is moved into the cgroup through (write
  // its pid, or "0" for the writer itself); close-on-exec.
  const std::vector<int>& procs_fds() const { return procs_fds_; }
  // Moves process `pid` into the cgroup (every hierarchy).
  absl::Status Join(pid_t pid) const;

  // True when the OOM killer killed a process of the step.
  bool OomKilled() const;
  const ResourceLimits& limits() const { return limits_; }

  // SIGKILLs every process still in the cgroup.
  void KillAll();

 private:
  friend class Cgroups;
  StepCgroup() = default;

  bool unified_ = false;
  ResourceLimits limits_;
  std::vector<std::string> dirs_;  // every directory made (v1: one per controller)
  std::string memory_dir_;         // where the OOM counter lives
  std::vector<int> procs_fds_;
  std::vector<UniqueFd> owned_fds_;
  UniqueFd device_program_;
};

}  // namespace kiln::builder::sandbox

#endif  // KILN_BUILDER_SANDBOX_CGROUP_H_
