#include "builder/sandbox/sandbox.h"

#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/close_range.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <tuple>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "base/file_util.h"
#include "base/id_map.h"
#include "base/status_macros.h"
#include "base/unique_fd.h"

namespace kiln::builder::sandbox {
namespace {

// Docker's default capability set.
constexpr int kDefaultCaps[] = {
    CAP_CHOWN,   CAP_DAC_OVERRIDE, CAP_FSETID,           CAP_FOWNER,
    CAP_MKNOD,   CAP_NET_RAW,      CAP_SETGID,           CAP_SETUID,
    CAP_SETFCAP, CAP_SETPCAP,      CAP_NET_BIND_SERVICE, CAP_SYS_CHROOT,
    CAP_KILL,    CAP_AUDIT_WRITE,
};

constexpr size_t kMaxMountOptions = 4000;  // overlay options must fit in one page
constexpr size_t kMaxLowerDirs = 500;      // overlayfs's own limit on stacked layers

// Everything the child needs, prepared before clone: the child runs in a copy of a possibly
// multi-threaded process without fork's atfork handlers, so it must not allocate or take any
// lock another thread might have held (malloc, stdio). It uses only syscalls and these strings.
struct Child {
  const SandboxSpec* spec;
  std::vector<std::string> lower_paths;
  std::string options_prefix, options_suffix;
  std::vector<char> options_buffer;  // filled in by the child
  std::vector<int> lower_fds;        // likewise
  struct MountPlan {
    std::vector<std::string> prefixes;  // "/a", "/a/b", ... of the target's parents
    bool file = false;                  // bind of a file: the target is a file
  };
  std::vector<MountPlan> mount_plans;
  std::vector<int> mount_tree_fds;  // filled in by the child
  std::string root;
  std::string proc, dev, sys, etc, resolv_conf, hosts;
  std::string dev_pts, dev_shm, dev_ptmx, dev_fd, dev_stdin, dev_stdout, dev_stderr;
  struct DevNode {
    std::string path, host;
    int major, minor;
  };
  std::vector<DevNode> dev_nodes;
  std::vector<std::string> cwd_prefixes;  // "/a", "/a/b", ... for mkdir -p of the cwd
  std::vector<std::string> argv_storage, env_storage;
  std::vector<char*> argv, env;
  std::vector<std::string> path_candidates;  // where to look for argv[0]
  std::string exec_step;                     // "exec <argv[0]>", for the error message
  int error_fd = -1;
  bool setgroups_denied = false;
};

[[noreturn]] void Fail(const Child& c, const char* step, int err) {
  // write(2) only: "<step>: <errno text>".
  char text[128];
  const char* msg = strerror_r(err, text, sizeof text);
  (void)!write(c.error_fd, step, strlen(step));
  (void)!write(c.error_fd, ": ", 2);
  (void)!write(c.error_fd, msg, strlen(msg));
  _exit(127);
}

#define CHECK_SYS(c, expr, step)           \
  do {                                     \
    if ((expr) != 0) Fail(c, step, errno); \
  } while (0)

void MakeNode(const Child& c, const Child::DevNode& node) {
  if (mknod(node.path.c_str(), S_IFCHR | 0666, makedev(node.major, node.minor)) == 0) {
    chmod(node.path.c_str(), 0666);
    return;
  }
  // Without CAP_MKNOD (rootless), bind the host's node instead.
  int fd = open(node.path.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0666);
  if (fd >= 0) close(fd);
  CHECK_SYS(c, mount(node.host.c_str(), node.path.c_str(), nullptr, MS_BIND, nullptr),
            "bind /dev node");
}

void EnsureFile(const std::string& path) {
  struct stat st;
  if (lstat(path.c_str(), &st) == 0) return;
  int fd = open(path.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
  if (fd >= 0) close(fd);
}

void EnsureDir(const std::string& path) { mkdir(path.c_str(), 0755); }

void MakeReadOnly(const Child& c, int dfd, const char* path, unsigned int flags, const char* step);

void BindReadOnly(const Child& c, const char* host, const std::string& target) {
  // (Only syscalls below: see Child.)
  struct stat st;
  if (stat(host, &st) != 0) return;  // the host has none: nothing to show
  struct stat tst;
  if (lstat(target.c_str(), &tst) == 0 && !S_ISREG(tst.st_mode)) return;  // not a file: skip
  EnsureFile(target);
  CHECK_SYS(c, mount(host, target.c_str(), nullptr, MS_BIND, nullptr), "bind resolv.conf/hosts");
  MakeReadOnly(c, AT_FDCWD, target.c_str(), 0, "remount resolv.conf/hosts read-only");
}

// mount_setattr changes only the read-only flag: a remount would have to repeat every flag the
// mount has, and inside a user namespace the ones inherited from the host are locked.
void MakeReadOnly(const Child& c, int dfd, const char* path, unsigned int flags, const char* step) {
  struct mount_attr attr = {};
  attr.attr_set = MOUNT_ATTR_RDONLY;
  CHECK_SYS(c, mount_setattr(dfd, path, flags, &attr, sizeof attr), step);
}

// sysfs can only be mounted by the owner of the network namespace; a rootless step that
// shares the host's network sees the host's /sys instead, read-only all the same.
void SetupSys(const Child& c) {
  EnsureDir(c.sys);
  if (mount("sysfs", c.sys.c_str(), "sysfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
            nullptr) == 0) {
    return;
  }
  if (errno != EPERM) Fail(c, "mount /sys", errno);
  CHECK_SYS(c, mount("/sys", c.sys.c_str(), nullptr, MS_BIND | MS_REC, nullptr), "bind /sys");
  MakeReadOnly(c, AT_FDCWD, c.sys.c_str(), AT_RECURSIVE, "make /sys read-only");
}

void SetupDev(const Child& c) {
  EnsureDir(c.dev);
  CHECK_SYS(
      c, mount("tmpfs", c.dev.c_str(), "tmpfs", MS_NOSUID | MS_STRICTATIME, "mode=755,size=65536k"),
      "mount /dev");
  for (const Child::DevNode& node : c.dev_nodes) MakeNode(c, node);
  EnsureDir(c.dev_pts);
  CHECK_SYS(c,
            mount("devpts", c.dev_pts.c_str(), "devpts", MS_NOSUID | MS_NOEXEC,
                  "newinstance,ptmxmode=0666,mode=0620"),
            "mount /dev/pts");
  EnsureDir(c.dev_shm);
  CHECK_SYS(c,
            mount("shm", c.dev_shm.c_str(), "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
                  "mode=1777,size=65536k"),
            "mount /dev/shm");
  symlink("pts/ptmx", c.dev_ptmx.c_str());
  symlink("/proc/self/fd", c.dev_fd.c_str());
  symlink("/proc/self/fd/0", c.dev_stdin.c_str());
  symlink("/proc/self/fd/1", c.dev_stdout.c_str());
  symlink("/proc/self/fd/2", c.dev_stderr.c_str());
}

void LoopbackUp(const Child& c) {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) Fail(c, "socket for lo", errno);
  struct ifreq ifr = {};
  strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
  if (ioctl(fd, SIOCGIFFLAGS, &ifr) != 0) Fail(c, "get lo flags", errno);
  ifr.ifr_flags |= IFF_UP;
  if (ioctl(fd, SIOCSIFFLAGS, &ifr) != 0) Fail(c, "bring lo up", errno);
  close(fd);
}

void DropCapabilities(const Child& c) {
  uint64_t keep = 0;
  for (int cap : kDefaultCaps) keep |= uint64_t{1} << cap;
  for (int cap = 0; cap <= 63; ++cap) {
    if (keep & (uint64_t{1} << cap)) continue;
    if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno != EINVAL) {
      Fail(c, "drop capability from bounding set", errno);
    }
  }
  prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
  struct __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct data[2] = {};
  for (int i = 0; i < 2; ++i) {
    uint32_t bits = static_cast<uint32_t>(keep >> (32 * i));
    data[i].effective = data[i].permitted = data[i].inheritable = bits;
  }
  if (syscall(SYS_capset, &header, data) != 0) Fail(c, "set capabilities", errno);
}

char* AppendText(char* out, const char* text, size_t size) {
  memcpy(out, text, size);
  return out + size;
}

// Opens the lower directories here, in the sandbox's mount namespace (overlayfs refuses
// mounts of another namespace), and mounts "lowerdir=FD:FD:..." from /proc/self/fd.
void MountOverlay(const Child& c) {
  char* out = const_cast<char*>(c.options_buffer.data());
  out = AppendText(out, c.options_prefix.data(), c.options_prefix.size());
  int* fds = const_cast<int*>(c.lower_fds.data());
  for (size_t i = 0; i < c.lower_paths.size(); ++i) {
    int fd = open(c.lower_paths[i].c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) Fail(c, "open a layer directory", errno);
    fds[i] = fd;
    if (i > 0) *out++ = ':';
    char digits[12];
    int n = 0;
    for (int v = fd; n == 0 || v > 0; v /= 10) digits[n++] = static_cast<char>('0' + v % 10);
    while (n > 0) *out++ = digits[--n];
  }
  out = AppendText(out, c.options_suffix.data(), c.options_suffix.size());
  *out = '\0';
  CHECK_SYS(c, chdir("/proc/self/fd"), "chdir /proc/self/fd");
  CHECK_SYS(c, mount("overlay", c.root.c_str(), "overlay", 0, c.options_buffer.data()),
            "mount overlay root");
  for (size_t i = 0; i < c.lower_paths.size(); ++i) close(fds[i]);
}

// Before leaving the host's view: detached copies of the bind sources, to attach later.
void CloneBindSources(const Child& c) {
  int* fds = const_cast<int*>(c.mount_tree_fds.data());
  for (size_t i = 0; i < c.spec->mounts.size(); ++i) {
    const SandboxMount& m = c.spec->mounts[i];
    fds[i] = -1;
    if (m.type != SandboxMount::Type::kBind) continue;
    fds[i] =
        open_tree(AT_FDCWD, m.source.c_str(), OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
    if (fds[i] < 0) Fail(c, "clone a RUN --mount source", errno);
    if (m.read_only) {
      MakeReadOnly(c, fds[i], "", AT_EMPTY_PATH | AT_RECURSIVE, "make a RUN --mount read-only");
    }
  }
}

// Inside the root: targets are made (symlinks resolve within it) and the mounts attached.
void AttachMounts(const Child& c) {
  for (size_t i = 0; i < c.spec->mounts.size(); ++i) {
    const SandboxMount& m = c.spec->mounts[i];
    const Child::MountPlan& plan = c.mount_plans[i];
    for (const std::string& prefix : plan.prefixes) mkdir(prefix.c_str(), 0755);
    if (plan.file) {
      EnsureFile(m.target);
    } else {
      mkdir(m.target.c_str(), 0755);
    }
    if (m.type == SandboxMount::Type::kTmpfs) {
      CHECK_SYS(c, mount("tmpfs", m.target.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, "mode=755"),
                "mount a RUN --mount tmpfs");
      continue;
    }
    CHECK_SYS(
        c, move_mount(c.mount_tree_fds[i], "", AT_FDCWD, m.target.c_str(), MOVE_MOUNT_F_EMPTY_PATH),
        "attach a RUN --mount");
    close(c.mount_tree_fds[i]);
  }
}

int ChildMain(void* arg) {
  Child& c = *static_cast<Child*>(arg);
  const SandboxSpec& spec = *c.spec;
  CHECK_SYS(c, mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr), "make / private");
  MountOverlay(c);
  EnsureDir(c.proc);
  CHECK_SYS(c, mount("proc", c.proc.c_str(), "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr),
            "mount /proc");
  SetupDev(c);
  SetupSys(c);
  struct stat st;
  if (lstat(c.etc.c_str(), &st) != 0) EnsureDir(c.etc);
  if (lstat(c.etc.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
    BindReadOnly(c, "/etc/resolv.conf", c.resolv_conf);
    BindReadOnly(c, "/etc/hosts", c.hosts);
  }
  CloneBindSources(c);
  CHECK_SYS(c, chdir(c.root.c_str()), "chdir to root");
  CHECK_SYS(c, syscall(SYS_pivot_root, ".", "."), "pivot_root");
  CHECK_SYS(c, umount2(".", MNT_DETACH), "detach old root");
  CHECK_SYS(c, chdir("/"), "chdir /");
  AttachMounts(c);
  CHECK_SYS(c, sethostname(spec.hostname.data(), spec.hostname.size()), "sethostname");
  if (spec.network_none) LoopbackUp(c);
  for (const std::string& prefix : c.cwd_prefixes) mkdir(prefix.c_str(), 0755);
  if (chdir(spec.cwd.c_str()) != 0) Fail(c, "chdir to the working directory", errno);

  DropCapabilities(c);
  // Raw syscalls: glibc's setuid() and friends would try to change every thread of the
  // process the child was cloned from, and wait for threads that do not exist here.
  // A user namespace that maps a single id has setgroups denied: the step keeps no groups.
  if (!c.setgroups_denied && syscall(SYS_setgroups, spec.groups.size(), spec.groups.data()) != 0) {
    Fail(c, "setgroups", errno);
  }
  if (syscall(SYS_setresgid, spec.gid, spec.gid, spec.gid) != 0) Fail(c, "setgid", errno);
  if (syscall(SYS_setresuid, spec.uid, spec.uid, spec.uid) != 0) Fail(c, "setuid", errno);
  // If kiln dies (the thread that made this sandbox waits for it), the step dies with it.
  // Set after the id change, which would clear it.
  CHECK_SYS(c, prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0), "set the parent-death signal");
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) Fail(c, "no_new_privs", errno);

  int stdin_fd = spec.stdin_fd >= 0 ? spec.stdin_fd : open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (stdin_fd < 0 || dup2(stdin_fd, 0) < 0) Fail(c, "stdin", errno);
  if (dup2(spec.stdout_fd, 1) < 0 || dup2(spec.stderr_fd, 2) < 0) Fail(c, "stdout", errno);
  // Nothing but 0, 1, 2 survives exec (the error pipe included).
  if (syscall(SYS_close_range, 3, ~0U, CLOSE_RANGE_CLOEXEC) != 0) Fail(c, "close_range", errno);

  int err = ENOENT;
  for (const std::string& candidate : c.path_candidates) {
    execve(candidate.c_str(), c.argv.data(), c.env.data());
    if (errno != ENOENT && errno != ENOTDIR) err = errno;
  }
  Fail(c, c.exec_step.c_str(), err);
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

}  // namespace

absl::StatusOr<SandboxResult> RunInSandbox(const SandboxSpec& spec) {
  if (spec.argv.empty()) return absl::InvalidArgumentError("no command to run");
  RETURN_IF_ERROR_CTX(CheckIdsMapped(spec.uid, spec.gid), "the step's user");
  Child c;
  c.spec = &spec;
  c.root = spec.root_mount;
  RETURN_IF_ERROR(MakeDirs(c.root));
  std::vector<std::string> lowers = spec.lower_dirs;
  std::string empty_lower;
  if (lowers.empty()) {
    empty_lower = c.root + ".empty";
    RETURN_IF_ERROR(MakeDirs(empty_lower));
    lowers.push_back(empty_lower);
  }
  if (lowers.size() > kMaxLowerDirs) {
    return absl::ResourceExhaustedError(absl::StrCat("too many layers (", lowers.size(),
                                                     "); one overlay mount takes ", kMaxLowerDirs));
  }
  // The options must fit in a page: the child opens the lower directories and names them by
  // descriptor, relative to /proc/self/fd ("7:8:9"), whatever their real paths' length.
  c.lower_paths = lowers;
  c.lower_fds.resize(lowers.size());
  // Inside a user namespace overlayfs cannot use trusted.* xattrs; the store's snapshots and
  // upper directories then carry user.overlay.* ones (see OverlayXattrPrefix).
  c.options_prefix = absl::StrCat(InInitialUserNamespace() ? "" : "userxattr,", "lowerdir=");
  c.options_suffix = absl::StrCat(",upperdir=", spec.upper_dir, ",workdir=", spec.work_dir);
  c.options_buffer.resize(c.options_prefix.size() + 11 * lowers.size() + c.options_suffix.size() +
                          1);
  if (c.options_buffer.size() > kMaxMountOptions) {
    return absl::ResourceExhaustedError(
        absl::StrCat("overlay mount options too long for ", lowers.size(), " layers"));
  }
  c.proc = c.root + "/proc";
  c.dev = c.root + "/dev";
  c.sys = c.root + "/sys";
  c.etc = c.root + "/etc";
  c.resolv_conf = c.etc + "/resolv.conf";
  c.hosts = c.etc + "/hosts";
  c.dev_pts = c.dev + "/pts";
  c.dev_shm = c.dev + "/shm";
  c.dev_ptmx = c.dev + "/ptmx";
  c.dev_fd = c.dev + "/fd";
  c.dev_stdin = c.dev + "/stdin";
  c.dev_stdout = c.dev + "/stdout";
  c.dev_stderr = c.dev + "/stderr";
  for (auto [name, major, minor] :
       {std::tuple{"null", 1, 3}, std::tuple{"zero", 1, 5}, std::tuple{"full", 1, 7},
        std::tuple{"random", 1, 8}, std::tuple{"urandom", 1, 9}, std::tuple{"tty", 5, 0}}) {
    c.dev_nodes.push_back(
        {absl::StrCat(c.dev, "/", name), absl::StrCat("/dev/", name), major, minor});
  }
  for (const SandboxMount& m : spec.mounts) {
    if (m.target.empty() || m.target[0] != '/') {
      return absl::InvalidArgumentError(
          absl::StrCat("mount target \"", m.target, "\" is not absolute"));
    }
    Child::MountPlan plan;
    std::string at;
    std::vector<std::string> parts = absl::StrSplit(m.target, '/', absl::SkipEmpty());
    for (size_t i = 0; i + 1 < parts.size(); ++i) {
      absl::StrAppend(&at, "/", parts[i]);
      plan.prefixes.push_back(at);
    }
    struct stat st;
    plan.file = m.type == SandboxMount::Type::kBind && ::stat(m.source.c_str(), &st) == 0 &&
                !S_ISDIR(st.st_mode);
    c.mount_plans.push_back(std::move(plan));
  }
  c.mount_tree_fds.resize(spec.mounts.size(), -1);
  std::string prefix;
  for (absl::string_view part : absl::StrSplit(spec.cwd, '/', absl::SkipEmpty())) {
    absl::StrAppend(&prefix, "/", part);
    c.cwd_prefixes.push_back(prefix);
  }
  c.exec_step = absl::StrCat("exec ", spec.argv[0]);
  c.argv_storage = spec.argv;
  for (std::string& a : c.argv_storage) c.argv.push_back(a.data());
  c.argv.push_back(nullptr);
  c.env_storage = spec.env;
  std::string path_var = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  for (std::string& e : c.env_storage) {
    c.env.push_back(e.data());
    if (e.rfind("PATH=", 0) == 0) path_var = e.substr(5);
  }
  c.env.push_back(nullptr);
  if (spec.argv[0].find('/') != std::string::npos) {
    c.path_candidates.push_back(spec.argv[0]);
  } else {
    for (absl::string_view dir : absl::StrSplit(path_var, ':', absl::SkipEmpty())) {
      c.path_candidates.push_back(absl::StrCat(dir, "/", spec.argv[0]));
    }
  }

  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC) != 0) return ErrnoError("pipe");
  UniqueFd read_end(pipe_fds[0]);
  UniqueFd write_end(pipe_fds[1]);
  c.error_fd = write_end.get();
  auto setgroups = ReadFile("/proc/self/setgroups", 64);
  c.setgroups_denied = setgroups.ok() && absl::StartsWith(*setgroups, "deny");

  constexpr size_t kStackSize = 1 << 20;
  void* stack = mmap(nullptr, kStackSize, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  if (stack == MAP_FAILED) return ErrnoError("allocate a stack for the sandbox");
  int flags = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS | SIGCHLD;
  if (spec.network_none) flags |= CLONE_NEWNET;
  pid_t pid = clone(ChildMain, static_cast<char*>(stack) + kStackSize, flags, &c);
  int clone_errno = errno;
  write_end.Reset();
  if (pid < 0) {
    munmap(stack, kStackSize);
    return ErrnoError("create the sandbox namespaces", clone_errno);
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
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) {
      munmap(stack, kStackSize);
      return ErrnoError("wait for the sandbox");
    }
  }
  munmap(stack, kStackSize);
  if (!empty_lower.empty()) ::rmdir(empty_lower.c_str());
  RemoveMountPoints(spec);
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
