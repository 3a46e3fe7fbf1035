// The processes a sandbox is made of, after clone(). Private to sandbox.cc.
//
// The thread calling RunInSandbox clones the *intermediate* (sharing kiln's memory, so no
// copy of its address space is made, and using only its own stack and the plan's buffers):
// still in kiln's namespaces, it
// keeps only its own descriptors, joins the step's cgroup, sets the rlimits, mounts the
// overlay root in a mount namespace of its own (idmapped layers and an overlay owned by the
// step's root when a user namespace is used), clones the RUN --mount sources, joins the lent
// network namespace and then the step's user namespace, and clones *PID 1* into new mount,
// PID, IPC, UTS and cgroup namespaces (and network, for "none"). PID 1 builds the root's
// mounts, pivots into it, drops privileges, installs the seccomp filter and execs the
// command. PID 1 is cloned with CLONE_PARENT, so kiln waits for it itself; the
// intermediate (suspended by CLONE_VFORK until PID 1 execs) reports PID 1's pid and exits.
//
// Both run in copies of a possibly multi-threaded process without fork's atfork handlers, so
// they must not allocate or take any lock another thread might have held (malloc, stdio):
// they use only syscalls and the strings and buffers prepared in the plan before clone().
#ifndef KILN_BUILDER_SANDBOX_SANDBOX_CHILD_H_
#define KILN_BUILDER_SANDBOX_SANDBOX_CHILD_H_

#include <cstdint>
#include <string>
#include <vector>

#include "builder/sandbox/sandbox.h"

namespace kiln::builder::sandbox::internal {

struct ChildPlan {
  const SandboxSpec* spec = nullptr;

  // The overlay: "[userxattr,]lowerdir=" + descriptors + upper/work options, filled in by the
  // intermediate into options_buffer (sized beforehand).
  std::vector<std::string> lower_paths;
  std::string options_prefix;
  std::string step_dir;  // the parent of upper_dir and work_dir
  std::string upper_name, work_name;
  std::vector<char> options_buffer;
  std::vector<int> lower_fds;  // scratch
  // The step's user namespace: its descriptor and the host ids of its root.
  int userns_fd = -1;
  uint32_t host_uid = 0, host_gid = 0;

  // Read by the intermediate before it clones PID 1: a byte once kiln has moved it into the
  // step's cgroup (done from outside, while the intermediate mounts the root), EOF on failure.
  int joined_fd = -1;
  int pid_fd = -1;            // the intermediate writes PID 1's pid_t here
  std::vector<int> keep_fds;  // every descriptor the intermediate may keep

  struct MountPlan {
    std::vector<std::string> prefixes;  // "/a", "/a/b", ... of the target's parents
    bool file = false;                  // bind of a file: the target is a file
    std::string tmpfs_options;          // tmpfs: "mode=755[,size=N]", made before the clone
    std::string file_path;              // kFile: where it is written, in `files_dir`
  };
  // kFile mounts: the directory of the step's own where a tmpfs for them is mounted (in the
  // intermediate's mount namespace) and its options; empty when there are none.
  std::string files_dir, files_tmpfs_options;
  std::vector<MountPlan> mount_plans;
  std::vector<int> mount_tree_fds;  // scratch: detached copies of bind sources
  int etc_tree_fds[2] = {-1, -1};   // scratch: resolv.conf and hosts, likewise

  // The root's mount point (a host path), and the paths PID 1 uses inside it, relative to its
  // working directory, which is the root.
  std::string root;
  std::string proc, dev, sys, sys_cgroup, etc, resolv_conf, hosts;
  std::string dev_pts, dev_shm, dev_mqueue, dev_ptmx, dev_fd, dev_stdin, dev_stdout, dev_stderr;
  std::string shm_options;
  std::string binfmt_dir, binfmt_register;  // SandboxSpec::binfmt's instance, and its register
  std::string mask_file;                    // an empty file on a scratch tmpfs at `sys`
  bool mount_cgroup2 = false;               // the host's cgroups are v2: show the step its own
  struct DevNode {
    std::string path, host;
    int major, minor;
  };
  std::vector<DevNode> dev_nodes;
  std::vector<std::string> masked, read_only;  // relative, like the paths above
  std::vector<std::string> cwd_prefixes;       // "/a", "/a/b", ... for mkdir -p of the cwd
  std::vector<std::string> argv_storage, env_storage;
  std::vector<char*> argv, env;
  std::vector<std::string> path_candidates;  // where to look for argv[0]
  std::string exec_step;                     // "exec <argv[0]>", for the error message
  int error_fd = -1;
  bool setgroups_denied = false;
  int pid1_flags = 0;
  void* pid1_stack_top = nullptr;
};

// The intermediate's entry point; `arg` is the ChildPlan. Exits with 0 after writing PID 1's
// pid to pid_fd, or 127 after writing a setup error to error_fd.
int IntermediateMain(void* arg);

}  // namespace kiln::builder::sandbox::internal

#endif  // KILN_BUILDER_SANDBOX_SANDBOX_CHILD_H_
