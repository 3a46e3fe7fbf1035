// Which device nodes a RUN step may open, as device-cgroup rules: everything is denied but
// Docker's default set (null, zero, full, random, urandom, tty, console, ptmx and the pts
// terminals), and creating any node (mknod) stays allowed so packages that ship nodes install,
// though the nodes cannot be opened. The rules are written as cgroup v1 `devices.allow` lines
// or compiled into a cgroup v2 BPF_PROG_TYPE_CGROUP_DEVICE program. Values only, thread-safe.
#ifndef KILN_BUILDER_SANDBOX_DEVICE_FILTER_H_
#define KILN_BUILDER_SANDBOX_DEVICE_FILTER_H_

#include <linux/bpf.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "base/unique_fd.h"

namespace kiln::builder::sandbox {

struct DeviceRule {
  char type = 'a';     // 'c' character, 'b' block, 'a' both
  int64_t major = -1;  // -1: any
  int64_t minor = -1;  // -1: any
  std::string access;  // some of "rwm"

  // "c 1:3 rwm", "b *:* m": the cgroup v1 format.
  std::string ToString() const;
};

// The allow rules a step gets; anything they do not allow is denied.
const std::vector<DeviceRule>& DefaultDeviceRules();

// The rules as an eBPF program for BPF_CGROUP_DEVICE (returns 1 to allow, 0 to deny).
std::vector<bpf_insn> DeviceProgram(const std::vector<DeviceRule>& allow);

// Loads the program (needs CAP_BPF or CAP_SYS_ADMIN) and attaches it to the cgroup v2
// directory `cgroup_fd`, alongside any program an ancestor has (both must allow).
absl::StatusOr<UniqueFd> LoadDeviceProgram(const std::vector<DeviceRule>& allow);
absl::Status AttachDeviceProgram(int cgroup_fd, int program_fd);

}  // namespace kiln::builder::sandbox

#endif  // KILN_BUILDER_SANDBOX_DEVICE_FILTER_H_
