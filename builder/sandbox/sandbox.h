// Runs one command in throwaway Linux namespaces over an overlayfs root, as a Dockerfile RUN
// step does: new mount, PID, IPC and UTS namespaces (and a network namespace with only `lo`
// for network "none"); the root is overlay(lower layers, upper dir) entered with pivot_root;
// /proc, a minimal /dev (null, zero, full, random, urandom, tty, pts, shm), read-only /sys, and
// the host's /etc/resolv.conf and /etc/hosts are mounted in but never land in the upper dir.
// The command runs with Docker's default capabilities, no_new_privs, no inherited descriptors
// beyond stdin/stdout/stderr, and cannot see or signal host processes; when it exits, every
// process left in its PID namespace is killed.
// RunInSandbox is thread-safe: each call prepares its own child state before clone(), and the
// descriptors a child inherits from other threads' calls are close-on-exec.
#ifndef KILN_BUILDER_SANDBOX_SANDBOX_H_
#define KILN_BUILDER_SANDBOX_SANDBOX_H_

#include <sys/types.h>

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace kiln::builder::sandbox {

// A mount a step asks for (RUN --mount): a host directory or file bound in, or a tmpfs.
struct SandboxMount {
  enum class Type { kBind, kTmpfs };
  Type type = Type::kBind;
  std::string source;  // kBind: a host path, symlinks already resolved
  std::string target;  // absolute, inside the root; missing directories are created there
  bool read_only = false;
};

struct SandboxSpec {
  // Overlay lower directories, topmost first. Empty: the step starts from an empty root.
  std::vector<std::string> lower_dirs;
  // The overlay's upper and work directories (same file system, both empty at the start).
  // After the run the upper directory holds the step's changes, overlay whiteouts included.
  std::string upper_dir;
  std::string work_dir;
  // A directory used as the mount point of the root (created if missing).
  std::string root_mount;

  std::vector<std::string> argv;
  std::vector<std::string> env;  // "KEY=value"
  std::string cwd = "/";         // created in the root when missing
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;
  bool network_none = false;
  std::string hostname = "kiln";
  // Mounted after the switch to the root, so the image's symlinks in a target stay inside it.
  std::vector<SandboxMount> mounts;

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

}  // namespace kiln::builder::sandbox

#endif  // KILN_BUILDER_SANDBOX_SANDBOX_H_
