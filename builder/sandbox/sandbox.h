// Runs one command in throwaway Linux namespaces over an overlayfs root, as a Dockerfile RUN
// step does. The walls, each of which the breakout suite probes (docs/design.md, "Threat
// model"):
// - new mount, PID, IPC, UTS and cgroup namespaces, and a network namespace of its own (with
//   only `lo` for "none", or a lent private network behind slirp4netns) unless the host's
//   network is asked for; the root is overlay(lower layers, upper dir), entered with
//   pivot_root, and every mount but the sandbox's own /dev is nodev;
// - started by root, a user namespace (StepUserNamespace): the step's root is an unprivileged
//   host id, and layers are idmapped so files keep the image's ids on disk;
// - /proc with runc's masked and read-only paths (/proc/sys, /proc/sysrq-trigger, ... read
//   only; /proc/kcore, /proc/keys, /proc/timer_list, /sys/firmware, ... hidden), a minimal
//   /dev, read-only /sys, the given resolv.conf and hosts (read-only);
// - the step's cgroup (limits, device allow-list), joined before the command starts;
// - for a foreign platform, QEMU handlers in a binfmt_misc of the step's user namespace, never
//   the host's;
// - a capability set (Docker's by default) with empty inheritable and ambient sets,
//   no_new_privs, a seccomp filter, rlimits, no inherited descriptors beyond 0, 1 and 2;
// - when the command exits, every process left in its PID namespace is killed.
// RunInSandbox is thread-safe: each call prepares its own child state before clone(), and the
// processes it makes close every descriptor that is not theirs.
#ifndef KILN_BUILDER_SANDBOX_SANDBOX_H_
#define KILN_BUILDER_SANDBOX_SANDBOX_H_

#include <sys/resource.h>
#include <sys/types.h>

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "builder/sandbox/capabilities.h"

namespace kiln::builder::sandbox {

class SeccompFilter;
class StepCgroup;
class StepUserNamespace;

// A mount a step asks for (RUN --mount): a host directory or file bound in, a tmpfs, or a
// file of given bytes (a secret). A kFile is written on a tmpfs in the step's own mount
// namespace and bound read-only: it is never on a disk, and the host never sees the mount.
struct SandboxMount {
  enum class Type { kBind, kTmpfs, kFile };
  Type type = Type::kBind;
  std::string source;  // kBind: a host path, symlinks already resolved
  std::string target;  // absolute, inside the root; missing directories are created there
  bool read_only = false;
  uint64_t size = 0;                       // kTmpfs: its size in bytes (0: the kernel's default)
  std::string data;                        // kFile: its content
  uint32_t mode = 0400, uid = 0, gid = 0;  // kFile: as the step sees it
};

struct SandboxRlimit {
  int resource = 0;  // RLIMIT_NOFILE, ...
  rlim_t soft = 0, hard = 0;
};

struct SandboxSpec {
  // Overlay lower directories, topmost first. Empty: the step starts from an empty root.
  std::vector<std::string> lower_dirs;
  // The overlay's upper and work directories (siblings in one directory, both empty at the
  // start). After the run the upper directory holds the step's changes, whiteouts included.
  std::string upper_dir;
  std::string work_dir;
  // A directory used as the mount point of the root (created if missing).
  std::string root_mount;

  std::vector<std::string> argv;
  std::vector<std::string> env;  // "KEY=value"
  std::string cwd = "/";         // created in the root when missing
  uid_t uid = 0;                 // as the image sees them
  gid_t gid = 0;
  std::vector<gid_t> groups;
  std::string hostname = "kiln";

  enum class Network {
    kNone,     // a namespace with only lo
    kPrivate,  // join `netns_fd`, a namespace made for steps (NetworkPool)
    kHost,     // the host's namespace
  };
  Network network = Network::kNone;
  int netns_fd = -1;  // kPrivate; not owned
  // Host files bound read-only at /etc/resolv.conf and /etc/hosts.
  std::string resolv_conf = "/etc/resolv.conf";
  std::string hosts = "/etc/hosts";
  // Mounted after the switch to the root, so the image's symlinks in a target stay inside it.
  std::vector<SandboxMount> mounts;

  // Run in this user namespace, with idmapped layers (kiln started as root). nullptr: in the
  // namespace kiln runs in (rootless kiln, or --userns=host).
  const StepUserNamespace* userns = nullptr;
  CapabilitySet capabilities = CapabilitySet::Default();
  const SeccompFilter* seccomp = nullptr;  // nullptr: no filter (seccomp=unconfined)
  StepCgroup* cgroup = nullptr;            // nullptr: stay in kiln's cgroups
  bool mask_paths = true;                  // runc's masked and read-only paths
  std::vector<SandboxRlimit> rlimits;
  uint64_t shm_size = 64 << 20;  // /dev/shm

  // binfmt_misc register lines (emulation.h): PID 1 mounts an instance of the step's user
  // namespace at /proc/sys/fs/binfmt_misc (read-only once registered) and writes them there.
  // Empty: the kernel's handlers as they are. REQUIRES a user namespace that is not the
  // initial one (`userns`, or rootless kiln's).
  std::vector<std::string> binfmt;

  int stdin_fd = -1;  // not owned; the command's stdin (-1: /dev/null)
  int stdout_fd = 1;  // not owned; the command's stdout and stderr go here
  int stderr_fd = 2;
};

struct SandboxResult {
  int exit_code = 0;  // the command's exit status, or 128 + signal when killed by one
};

// Runs the command to completion. An error means the sandbox could not be set up (the message
// says which step failed); a command that runs and fails is a result with exit_code != 0.
absl::StatusOr<SandboxResult> RunInSandbox(const SandboxSpec& spec);

// runc's default masked paths (hidden: an empty read-only tmpfs or /dev/null over them) and
// read-only paths.
const std::vector<std::string>& MaskedPaths();
const std::vector<std::string>& ReadOnlyPaths();

}  // namespace kiln::builder::sandbox

#endif  // KILN_BUILDER_SANDBOX_SANDBOX_H_
