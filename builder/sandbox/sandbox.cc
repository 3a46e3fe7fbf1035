#include "builder/sandbox/sandbox.h"

#include <fcntl.h>
#include <glob.h>
#include <linux/magic.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <tuple>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "base/file_util.h"
#include "base/id_map.h"
#include "base/interrupt.h"
#include "base/status_macros.h"
#include "base/unique_fd.h"
#include "builder/sandbox/cgroup.h"
#include "builder/sandbox/sandbox_child.h"
#include "builder/sandbox/step_userns.h"
#include "oci/image_config.h"

namespace kiln::builder::sandbox {
namespace {

using internal::ChildPlan;

constexpr size_t kMaxLowerDirs = 500;  // overlayfs's own limit on stacked layers
constexpr size_t kStackSize = 256 << 10;

// A stack for a cloned process, unmapped when the call is done.
class Stack {
 public:
  Stack() {
    base_ = ::mmap(nullptr, kStackSize, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  }
  ~Stack() {
    if (base_ != MAP_FAILED) ::munmap(base_, kStackSize);
  }
  bool ok() const { return base_ != MAP_FAILED; }
  void* top() const { return static_cast<char*>(base_) + kStackSize; }

 private:
  void* base_;
};

// "/a/b/c" → "/a", "/a/b" (without the last component) or with it.
std::vector<std::string> Prefixes(absl::string_view path, bool with_last) {
  std::vector<std::string> parts = absl::StrSplit(path, '/', absl::SkipEmpty());
  std::vector<std::string> out;
  std::string at;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (i + 1 == parts.size() && !with_last) break;
    absl::StrAppend(&at, "/", parts[i]);
    out.push_back(at);
  }
  return out;
}

// The sandbox creates mount points (/proc, /dev, /sys, /etc/resolv.conf, /etc/hosts) in the
// root when the image lacks them; they are not the step's changes, so they leave the upper
// directory again when empty and absent from every lower directory.
void RemoveMountPoints(const SandboxSpec& spec) {
  auto in_lower = [&](const std::string& rel) {
    struct stat st;
    for (const std::string& lower : spec.lower_dirs) {
      if (lstat((lower + "/" + rel).c_str(), &st) == 0) return true;
    }
    return false;
  };
  for (const char* rel : {"etc/resolv.conf", "etc/hosts", "proc", "dev", "sys", "etc"}) {
    std::string path = spec.upper_dir + "/" + rel;
    struct stat st;
    if (lstat(path.c_str(), &st) != 0 || in_lower(rel)) continue;
    if (S_ISREG(st.st_mode) && st.st_size == 0) {
      unlink(path.c_str());
    } else if (S_ISDIR(st.st_mode)) {
      rmdir(path.c_str());  // fails, and keeps it, unless empty
    }
  }
}

bool HostCgroupsAreUnified() {
  struct statfs fs;
  return ::statfs("/sys/fs/cgroup", &fs) == 0 && fs.f_type == CGROUP2_SUPER_MAGIC;
}

// Everything the processes after clone() need, as strings and buffers made here.
// Long by design: every path, descriptor and buffer the child uses is prepared here before clone,
// in the order the child consumes them; kept whole so that order can be read top to bottom.
absl::Status Plan(const SandboxSpec& spec, ChildPlan* c) {
  c->spec = &spec;
  c->root = spec.root_mount;
  // A layer may come twice (equal layers share one snapshot); overlayfs refuses a directory
  // twice in one stack. The lower occurrence shows nothing the upper one does not, so only
  // the topmost is kept.
  for (const std::string& dir : spec.lower_dirs) {
    if (std::find(c->lower_paths.begin(), c->lower_paths.end(), dir) == c->lower_paths.end()) {
      c->lower_paths.push_back(dir);
    }
  }
  if (c->lower_paths.size() > kMaxLowerDirs) {
    return absl::ResourceExhaustedError(absl::StrCat("too many layers (", c->lower_paths.size(),
                                                     "); one overlay mount takes ", kMaxLowerDirs));
  }
  c->lower_fds.resize(c->lower_paths.size());
  if (Dirname(spec.upper_dir) != Dirname(spec.work_dir)) {
    return absl::InvalidArgumentError("the upper and work directories must be siblings");
  }
  c->step_dir = Dirname(spec.upper_dir);
  c->upper_name = spec.upper_dir.substr(c->step_dir.size() + 1);
  c->work_name = spec.work_dir.substr(c->step_dir.size() + 1);
  // Inside a user namespace of kiln's own (rootless) overlayfs cannot use trusted.* xattrs;
  // the store's snapshots and upper directories then carry user.overlay.* ones.
  c->options_prefix = absl::StrCat(InInitialUserNamespace() ? "" : "userxattr,", "lowerdir=");
  // Room for any descriptor numbers; the intermediate, which has closed all others, gets
  // small ones, so even 500 layers fit in the page the kernel takes (checked there).
  c->options_buffer.resize(c->options_prefix.size() + 11 * c->lower_paths.size() + 40 +
                           c->upper_name.size() + c->work_name.size());
  if (spec.userns != nullptr) {
    c->userns_fd = spec.userns->fd();
    c->host_uid = spec.userns->range().uid_base;
    c->host_gid = spec.userns->range().gid_base;
    const uint32_t count = spec.userns->range().count;
    if (spec.uid >= count || spec.gid >= count) {
      return absl::FailedPreconditionError(absl::StrCat(
          "the step's user ", spec.uid, ":", spec.gid, " is beyond the ", count,
          " ids RUN steps have; give root a larger range in /etc/subuid and /etc/subgid, or "
          "build with --userns=host"));
    }
  } else {
    RETURN_IF_ERROR_CTX(CheckIdsMapped(spec.uid, spec.gid), "the step's user");
  }
  if (!spec.binfmt.empty() && spec.userns == nullptr && InInitialUserNamespace()) {
    return absl::FailedPreconditionError(
        "emulation needs a user namespace of the step's own: the host's binfmt_misc is not "
        "changed");
  }
  c->proc = "proc";
  c->binfmt_dir = c->proc + "/sys/fs/binfmt_misc";
  c->binfmt_register = c->binfmt_dir + "/register";
  c->dev = "dev";
  c->sys = "sys";
  c->sys_cgroup = c->sys + "/fs/cgroup";
  c->mask_file = c->sys + "/empty";
  c->mount_cgroup2 = spec.cgroup != nullptr && HostCgroupsAreUnified();
  c->etc = "etc";
  c->resolv_conf = c->etc + "/resolv.conf";
  c->hosts = c->etc + "/hosts";
  c->dev_pts = c->dev + "/pts";
  c->dev_shm = c->dev + "/shm";
  c->dev_mqueue = c->dev + "/mqueue";
  c->dev_ptmx = c->dev + "/ptmx";
  c->dev_fd = c->dev + "/fd";
  c->dev_stdin = c->dev + "/stdin";
  c->dev_stdout = c->dev + "/stdout";
  c->dev_stderr = c->dev + "/stderr";
  c->shm_options = absl::StrCat("mode=1777,size=", spec.shm_size);
  for (auto [name, major, minor] :
       {std::tuple{"null", 1, 3}, std::tuple{"zero", 1, 5}, std::tuple{"full", 1, 7},
        std::tuple{"random", 1, 8}, std::tuple{"urandom", 1, 9}, std::tuple{"tty", 5, 0}}) {
    c->dev_nodes.push_back(
        {absl::StrCat(c->dev, "/", name), absl::StrCat("/dev/", name), major, minor});
  }
  if (spec.mask_paths) {
    for (const std::string& p : MaskedPaths()) c->masked.push_back(p.substr(1));
    for (const std::string& p : ReadOnlyPaths()) c->read_only.push_back(p.substr(1));
  }
  uint64_t files_bytes = 0;
  for (const SandboxMount& m : spec.mounts) {
    if (m.target.empty() || m.target[0] != '/') {
      return absl::InvalidArgumentError(
          absl::StrCat("mount target \"", m.target, "\" is not absolute"));
    }
    ChildPlan::MountPlan plan;
    plan.prefixes = Prefixes(m.target, /*with_last=*/false);
    struct stat st;
    plan.file = m.type == SandboxMount::Type::kBind && ::stat(m.source.c_str(), &st) == 0 &&
                !S_ISDIR(st.st_mode);
    plan.tmpfs_options = "mode=755";
    if (m.size > 0) absl::StrAppend(&plan.tmpfs_options, ",size=", m.size);
    if (m.type == SandboxMount::Type::kFile) {
      plan.file = true;
      c->files_dir = c->step_dir + "/files";
      plan.file_path = absl::StrCat(c->files_dir, "/", c->mount_plans.size());
      files_bytes += m.data.size() + 4096;
    }
    c->mount_plans.push_back(std::move(plan));
  }
  if (!c->files_dir.empty()) {
    c->files_tmpfs_options = absl::StrCat("mode=700,size=", files_bytes + 4096);
  }
  c->mount_tree_fds.resize(spec.mounts.size(), -1);
  c->cwd_prefixes = Prefixes(spec.cwd, /*with_last=*/true);
  c->exec_step = absl::StrCat("exec ", spec.argv[0]);
  c->argv_storage = spec.argv;
  for (std::string& a : c->argv_storage) c->argv.push_back(a.data());
  c->argv.push_back(nullptr);
  c->env_storage = spec.env;
  std::string path_var = oci::kDefaultPath;
  for (std::string& e : c->env_storage) {
    c->env.push_back(e.data());
    if (e.rfind("PATH=", 0) == 0) path_var = e.substr(5);
  }
  c->env.push_back(nullptr);
  if (spec.argv[0].find('/') != std::string::npos) {
    c->path_candidates.push_back(spec.argv[0]);
  } else {
    for (absl::string_view dir : absl::StrSplit(path_var, ':', absl::SkipEmpty())) {
      c->path_candidates.push_back(absl::StrCat(dir, "/", spec.argv[0]));
    }
  }
  if (spec.network == SandboxSpec::Network::kPrivate && spec.netns_fd < 0) {
    return absl::InvalidArgumentError("a private network needs a namespace to join");
  }
  auto setgroups = ReadFile("/proc/self/setgroups", 64);
  c->setgroups_denied =
      spec.userns == nullptr && setgroups.ok() && absl::StartsWith(*setgroups, "deny");
  c->pid1_flags = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWCGROUP |
                  CLONE_VM | CLONE_VFORK | CLONE_PARENT | SIGCHLD;
  if (spec.network == SandboxSpec::Network::kNone) c->pid1_flags |= CLONE_NEWNET;
  return absl::OkStatus();
}

}  // namespace

const std::vector<std::string>& MaskedPaths() {
  static const std::vector<std::string>* paths = [] {
    auto* v = new std::vector<std::string>{
        "/proc/acpi",       "/proc/asound",      "/proc/interrupts",
        "/proc/kcore",      "/proc/keys",        "/proc/latency_stats",
        "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug",
        "/proc/scsi",       "/sys/firmware",     "/sys/devices/virtual/powercap",
    };
    // Per-CPU thermal interrupt counters, as Docker masks them too.
    glob_t g;
    if (::glob("/sys/devices/system/cpu/cpu*/thermal_throttle", GLOB_ONLYDIR, nullptr, &g) == 0) {
      for (size_t i = 0; i < g.gl_pathc; ++i) v->push_back(g.gl_pathv[i]);
    }
    ::globfree(&g);
    return v;
  }();
  return *paths;
}

const std::vector<std::string>& ReadOnlyPaths() {
  static const std::vector<std::string>* paths = new std::vector<std::string>{
      "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
  };
  return *paths;
}

// Long by design: clone, cgroup migration, id maps and wait form one handshake with the child;
// split, the error paths that must kill the child would be spread apart.
absl::StatusOr<SandboxResult> RunInSandbox(const SandboxSpec& spec) {
  if (spec.argv.empty()) return absl::InvalidArgumentError("no command to run");
  RETURN_IF_ERROR(MakeDirs(spec.root_mount));
  SandboxSpec with_lower = spec;
  std::string empty_lower;
  if (with_lower.lower_dirs.empty()) {
    empty_lower = spec.root_mount + ".empty";
    RETURN_IF_ERROR(MakeDirs(empty_lower));
    with_lower.lower_dirs.push_back(empty_lower);
  }
  ChildPlan c;
  RETURN_IF_ERROR(Plan(with_lower, &c));

  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC) != 0) return ErrnoError("pipe");
  UniqueFd read_end(pipe_fds[0]);
  UniqueFd write_end(pipe_fds[1]);
  c.error_fd = write_end.get();
  UniqueFd joined_read, joined_write;
  if (spec.cgroup != nullptr) {
    if (pipe2(pipe_fds, O_CLOEXEC) != 0) return ErrnoError("pipe");
    joined_read.Reset(pipe_fds[0]);
    joined_write.Reset(pipe_fds[1]);
    c.joined_fd = joined_read.get();
  }
  if (pipe2(pipe_fds, O_CLOEXEC) != 0) return ErrnoError("pipe");
  UniqueFd pid_read(pipe_fds[0]), pid_write(pipe_fds[1]);
  c.pid_fd = pid_write.get();
  c.keep_fds = {c.error_fd,  c.joined_fd,   c.pid_fd,       spec.netns_fd,
                c.userns_fd, spec.stdin_fd, spec.stdout_fd, spec.stderr_fd};

  Stack intermediate_stack, pid1_stack;
  if (!intermediate_stack.ok() || !pid1_stack.ok()) return ErrnoError("allocate a stack");
  c.pid1_stack_top = pid1_stack.top();
  pid_t pid = clone(internal::IntermediateMain, intermediate_stack.top(), CLONE_VM | SIGCHLD, &c);
  int clone_errno = errno;
  write_end.Reset();
  joined_read.Reset();
  pid_write.Reset();
  if (pid < 0) return ErrnoError("start the sandbox", clone_errno);
  interrupt::AddProcess(pid);
  // Joining a cgroup waits for an RCU grace period per hierarchy: done here, while the
  // intermediate mounts the root.
  absl::Status joined = absl::OkStatus();
  if (spec.cgroup != nullptr) {
    joined = spec.cgroup->Join(pid);
    if (joined.ok() && write(joined_write.get(), "j", 1) != 1) joined = ErrnoError("signal");
    joined_write.Reset();
  }
  std::string setup_error;
  char buf[512];
  while (true) {
    ssize_t n = read(read_end.get(), buf, sizeof buf);
    if (n > 0) {
      setup_error.append(buf, n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    break;
  }
  // EOF came when the intermediate exited and PID 1 exec'd (or failed): PID 1 runs the step.
  pid_t pid1 = -1;
  ssize_t got;
  while ((got = read(pid_read.get(), &pid1, sizeof pid1)) < 0 && errno == EINTR) {
  }
  if (got == sizeof pid1) interrupt::AddProcess(pid1);
  int status = 0;
  auto wait_for = [](pid_t p, int* st) {
    while (waitpid(p, st, 0) < 0) {
      if (errno != EINTR) return false;
    }
    return true;
  };
  const bool waited = wait_for(pid, &status);
  interrupt::RemoveProcess(pid);
  if (!waited) return ErrnoError("wait for the sandbox");
  if (got == sizeof pid1) {
    const bool step_waited = wait_for(pid1, &status);
    interrupt::RemoveProcess(pid1);
    if (!step_waited) return ErrnoError("wait for the step");
  }
  if (!empty_lower.empty()) ::rmdir(empty_lower.c_str());
  RemoveMountPoints(with_lower);
  RETURN_IF_ERROR_CTX(joined, "sandbox");
  if (!setup_error.empty()) {
    return absl::FailedPreconditionError(absl::StrCat("sandbox: ", setup_error));
  }
  SandboxResult result;
  if (WIFEXITED(status)) {
    result.exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    result.exit_code = 128 + WTERMSIG(status);
  }
  return result;
}

}  // namespace kiln::builder::sandbox
