#include "builder/sandbox/sandbox_child.h"

#include <fcntl.h>
#include <linux/capability.h>
#include <linux/close_range.h>
#include <linux/securebits.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "builder/sandbox/close_fds.h"
#include "builder/sandbox/seccomp_filter.h"

namespace kiln::builder::sandbox::internal {
namespace {

[[noreturn]] void Fail(const ChildPlan& c, const char* step, int err) {
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

char* AppendText(char* out, const char* text, size_t size) {
  memcpy(out, text, size);
  return out + size;
}

char* AppendNumber(char* out, int v) {
  char digits[12];
  int n = 0;
  do {
    digits[n++] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v > 0);
  while (n > 0) *out++ = digits[--n];
  return out;
}

int SetAttr(int dfd, const char* path, unsigned int flags, uint64_t set, int userns_fd = -1) {
  struct mount_attr attr = {};
  attr.attr_set = set;
  if (userns_fd >= 0) {
    attr.attr_set |= MOUNT_ATTR_IDMAP;
    attr.userns_fd = static_cast<uint64_t>(userns_fd);
  }
  return mount_setattr(dfd, path, flags, &attr, sizeof attr);
}

// A detached copy of the tree at `path`, idmapped through the step's user namespace if any.
int CloneTree(const ChildPlan& c, const char* path, uint64_t attrs, const char* step) {
  int fd = open_tree(AT_FDCWD, path, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
  if (fd < 0) Fail(c, step, errno);
  if ((attrs != 0 || c.userns_fd >= 0) &&
      SetAttr(fd, "", AT_EMPTY_PATH | AT_RECURSIVE, attrs, c.userns_fd) != 0) {
    Fail(c, step, errno);
  }
  return fd;
}

// The overlay root, in the intermediate's own mount namespace. Lower directories are opened
// here (overlayfs refuses layers of another namespace) and named by descriptor relative to
// /proc/self/fd ("7:8:9"), so a page of options holds overlayfs's 500 layers whatever their
// paths. With a user namespace the layers are idmapped copies and the overlay is mounted
// with the step root's host ids as file-system ids (keeping every capability), so what
// overlayfs creates itself (copy-ups, whiteouts, its work directory) gets the image's ids.
void MountOverlay(const ChildPlan& c) {
  char* out = const_cast<char*>(c.options_buffer.data());
  out = AppendText(out, c.options_prefix.data(), c.options_prefix.size());
  int* fds = const_cast<int*>(c.lower_fds.data());
  for (size_t i = 0; i < c.lower_paths.size(); ++i) {
    const char* path = c.lower_paths[i].c_str();
    fds[i] = c.userns_fd >= 0 ? CloneTree(c, path, 0, "idmap a layer directory")
                              : open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (fds[i] < 0) Fail(c, "open a layer directory", errno);
    if (i > 0) *out++ = ':';
    out = AppendNumber(out, fds[i]);
  }
  int step_fd = c.userns_fd >= 0 ? CloneTree(c, c.step_dir.c_str(), 0, "idmap the step directory")
                                 : open(c.step_dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (step_fd < 0) Fail(c, "open the step directory", errno);
  out = AppendText(out, ",upperdir=", 10);
  out = AppendNumber(out, step_fd);
  *out++ = '/';
  out = AppendText(out, c.upper_name.data(), c.upper_name.size());
  out = AppendText(out, ",workdir=", 9);
  out = AppendNumber(out, step_fd);
  *out++ = '/';
  out = AppendText(out, c.work_name.data(), c.work_name.size());
  *out = '\0';
  if (out - c.options_buffer.data() >= 4096) Fail(c, "overlay options over a page", E2BIG);
  CHECK_SYS(c, chdir("/proc/self/fd"), "chdir /proc/self/fd");
  if (c.userns_fd >= 0) {
    CHECK_SYS(c, prctl(PR_SET_SECUREBITS, SECBIT_NO_SETUID_FIXUP, 0, 0, 0),
              "keep capabilities across the fsuid change");
    syscall(SYS_setfsuid, c.host_uid);
    syscall(SYS_setfsgid, c.host_gid);
  }
  CHECK_SYS(c, mount("overlay", c.root.c_str(), "overlay", MS_NODEV, c.options_buffer.data()),
            "mount overlay root");
  if (c.userns_fd >= 0) {
    syscall(SYS_setfsuid, 0);
    syscall(SYS_setfsgid, 0);
    CHECK_SYS(c, prctl(PR_SET_SECUREBITS, 0, 0, 0, 0), "restore the securebits");
  }
  for (size_t i = 0; i < c.lower_paths.size(); ++i) close(fds[i]);
  close(step_fd);
  CHECK_SYS(c, chdir("/"), "chdir /");
}

// Writes the kFile mounts (secrets) on a tmpfs of this mount namespace only and keeps
// detached read-only copies of them; the tmpfs itself is then let go, so the files live only
// as long as the copies.
void CloneFiles(const ChildPlan& c) {
  mkdir(c.files_dir.c_str(), 0700);
  CHECK_SYS(c,
            mount("tmpfs", c.files_dir.c_str(), "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
                  c.files_tmpfs_options.c_str()),
            "mount the secrets' tmpfs");
  int* fds = const_cast<int*>(c.mount_tree_fds.data());
  for (size_t i = 0; i < c.spec->mounts.size(); ++i) {
    const SandboxMount& m = c.spec->mounts[i];
    if (m.type != SandboxMount::Type::kFile) continue;
    const char* path = c.mount_plans[i].file_path.c_str();
    int fd = open(path, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) Fail(c, "write a secret", errno);
    for (size_t done = 0; done < m.data.size();) {
      ssize_t n = write(fd, m.data.data() + done, m.data.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) Fail(c, "write a secret", errno);
      done += n;
    }
    CHECK_SYS(c, fchown(fd, m.uid, m.gid), "chown a secret");
    CHECK_SYS(c, fchmod(fd, m.mode & 07777), "chmod a secret");
    close(fd);
    fds[i] = CloneTree(c, path,
                       MOUNT_ATTR_RDONLY | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC,
                       "clone a secret");
  }
  CHECK_SYS(c, umount2(c.files_dir.c_str(), MNT_DETACH), "let go of the secrets' tmpfs");
}

// Detached copies of the RUN --mount sources, made while the host's paths are visible and
// kiln still has the privileges an idmapped mount needs; PID 1 attaches them inside the root.
void CloneBindSources(const ChildPlan& c) {
  int* etc_fds = const_cast<int*>(c.etc_tree_fds);
  const char* etc_sources[2] = {c.spec->resolv_conf.c_str(), c.spec->hosts.c_str()};
  for (int i = 0; i < 2; ++i) {
    struct stat st;
    etc_fds[i] = stat(etc_sources[i], &st) == 0 && S_ISREG(st.st_mode)
                     ? CloneTree(c, etc_sources[i],
                                 MOUNT_ATTR_RDONLY | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOSUID |
                                     MOUNT_ATTR_NOEXEC,
                                 "clone resolv.conf/hosts")
                     : -1;
  }
  int* fds = const_cast<int*>(c.mount_tree_fds.data());
  for (size_t i = 0; i < c.spec->mounts.size(); ++i) {
    const SandboxMount& m = c.spec->mounts[i];
    fds[i] = -1;
    if (m.type != SandboxMount::Type::kBind) continue;
    uint64_t attrs = MOUNT_ATTR_NODEV | MOUNT_ATTR_NOSUID | (m.read_only ? MOUNT_ATTR_RDONLY : 0);
    fds[i] = CloneTree(c, m.source.c_str(), attrs, "clone a RUN --mount source");
  }
  if (!c.files_dir.empty()) CloneFiles(c);
}

void EnsureFile(const std::string& path) {
  struct stat st;
  if (lstat(path.c_str(), &st) == 0) return;
  int fd = open(path.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
  if (fd >= 0) close(fd);
}

void EnsureDir(const std::string& path) { mkdir(path.c_str(), 0755); }

void MakeReadOnly(const ChildPlan& c, int dfd, const char* path, unsigned int flags,
                  const char* step) {
  // mount_setattr changes only these flags: a remount would have to repeat every flag the
  // mount has, and inside a user namespace the ones inherited from the host are locked.
  CHECK_SYS(c, SetAttr(dfd, path, flags, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOSUID),
            step);
}

// Attaches a file cloned by the intermediate (resolv.conf, hosts) at `target` in the root.
void AttachFile(const ChildPlan& c, int tree_fd, const std::string& target) {
  if (tree_fd < 0) return;  // the host has none: nothing to show
  struct stat tst;
  if (lstat(target.c_str(), &tst) == 0 && !S_ISREG(tst.st_mode)) return;  // not a file: skip
  EnsureFile(target);
  CHECK_SYS(c, move_mount(tree_fd, "", AT_FDCWD, target.c_str(), MOVE_MOUNT_F_EMPTY_PATH),
            "attach resolv.conf/hosts");
}

void MakeNode(const ChildPlan& c, const ChildPlan::DevNode& node) {
  if (mknod(node.path.c_str(), S_IFCHR | 0666, makedev(node.major, node.minor)) == 0) {
    chmod(node.path.c_str(), 0666);
    return;
  }
  // Without CAP_MKNOD over the mount (a user namespace), bind the host's node instead.
  int fd = open(node.path.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0666);
  if (fd >= 0) close(fd);
  CHECK_SYS(c, mount(node.host.c_str(), node.path.c_str(), nullptr, MS_BIND, nullptr),
            "bind /dev node");
}

void SetupDev(const ChildPlan& c) {
  EnsureDir(c.dev);
  CHECK_SYS(
      c, mount("tmpfs", c.dev.c_str(), "tmpfs", MS_NOSUID | MS_STRICTATIME, "mode=755,size=65536k"),
      "mount /dev");
  for (const ChildPlan::DevNode& node : c.dev_nodes) MakeNode(c, node);
  EnsureDir(c.dev_pts);
  CHECK_SYS(c,
            mount("devpts", c.dev_pts.c_str(), "devpts", MS_NOSUID | MS_NOEXEC,
                  "newinstance,ptmxmode=0666,mode=0620"),
            "mount /dev/pts");
  EnsureDir(c.dev_shm);
  CHECK_SYS(c,
            mount("shm", c.dev_shm.c_str(), "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
                  c.shm_options.c_str()),
            "mount /dev/shm");
  EnsureDir(c.dev_mqueue);
  // The IPC namespace's own message queues; optional (a kernel may lack mqueue).
  mount("mqueue", c.dev_mqueue.c_str(), "mqueue", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr);
  symlink("pts/ptmx", c.dev_ptmx.c_str());
  symlink("/proc/self/fd", c.dev_fd.c_str());
  symlink("/proc/self/fd/0", c.dev_stdin.c_str());
  symlink("/proc/self/fd/1", c.dev_stdout.c_str());
  symlink("/proc/self/fd/2", c.dev_stderr.c_str());
}

// sysfs can only be mounted by the owner of the network namespace; a step that shares the
// host's network sees the host's /sys instead, read-only all the same.
void SetupSys(const ChildPlan& c) {
  EnsureDir(c.sys);
  if (mount("sysfs", c.sys.c_str(), "sysfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
            nullptr) != 0) {
    if (errno != EPERM) Fail(c, "mount /sys", errno);
    CHECK_SYS(c, mount("/sys", c.sys.c_str(), nullptr, MS_BIND | MS_REC, nullptr), "bind /sys");
    MakeReadOnly(c, AT_FDCWD, c.sys.c_str(), AT_RECURSIVE, "make /sys read-only");
    return;
  }
  if (c.mount_cgroup2) {
    // The step's own cgroup (its cgroup namespace's root), read-only.
    mount("cgroup2", c.sys_cgroup.c_str(), "cgroup2", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
          nullptr);
  }
}

// runc's masked paths: a directory gets an empty read-only tmpfs over it, a file an empty
// read-only file (from a scratch tmpfs on the /sys mount point, which sysfs then hides; a bind of
// /dev/null would be the one mount outside /dev without nodev). Read-only paths are bound onto
// themselves and made read-only. Missing paths are skipped.
void MaskFiles(const ChildPlan& c) {
  bool scratch = false;
  for (const std::string& path : c.masked) {
    struct stat st;
    if (lstat(path.c_str(), &st) != 0 || S_ISDIR(st.st_mode)) continue;
    if (!scratch) {
      EnsureDir(c.sys);
      CHECK_SYS(c,
                mount("tmpfs", c.sys.c_str(), "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
                      "size=4k,mode=755"),
                "mount a scratch tmpfs");
      int fd = open(c.mask_file.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0444);
      if (fd < 0) Fail(c, "create an empty file", errno);
      close(fd);
      scratch = true;
    }
    CHECK_SYS(c, mount(c.mask_file.c_str(), path.c_str(), nullptr, MS_BIND, nullptr),
              "mask a /proc file");
    MakeReadOnly(c, AT_FDCWD, path.c_str(), 0, "make a masked file read-only");
  }
  // The scratch tmpfs stays under the sysfs mounted over it (an unmount would wait for an
  // RCU grace period).
}

void MaskDirectoriesAndMakeReadOnly(const ChildPlan& c) {
  for (const std::string& path : c.masked) {
    struct stat st;
    if (lstat(path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) continue;
    CHECK_SYS(c,
              mount("tmpfs", path.c_str(), "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
                    "size=0,mode=755"),
              "mask a /proc or /sys directory");
  }
  for (const std::string& path : c.read_only) {
    struct stat st;
    if (lstat(path.c_str(), &st) != 0) continue;
    CHECK_SYS(c, mount(path.c_str(), path.c_str(), nullptr, MS_BIND | MS_REC, nullptr),
              "bind a read-only /proc path");
    MakeReadOnly(c, AT_FDCWD, path.c_str(), AT_RECURSIVE, "make a /proc path read-only");
  }
}

// A binfmt_misc of the step's user namespace with the emulator handlers, read-only once they
// are registered. Registered before pivot_root: the F flag opens each emulator now, from the
// host's file system. A handler another step of the namespace registered first is kept.
void RegisterEmulators(const ChildPlan& c) {
  CHECK_SYS(c,
            mount("binfmt_misc", c.binfmt_dir.c_str(), "binfmt_misc",
                  MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr),
            "mount a binfmt_misc of the step's own for emulation");
  for (const std::string& line : c.spec->binfmt) {
    int fd = open(c.binfmt_register.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0) Fail(c, "open binfmt_misc's register", errno);
    if (write(fd, line.data(), line.size()) != static_cast<ssize_t>(line.size()) &&
        errno != EEXIST) {
      Fail(c, "register the emulator with binfmt_misc", errno);
    }
    close(fd);
  }
  MakeReadOnly(c, AT_FDCWD, c.binfmt_dir.c_str(), 0, "make binfmt_misc read-only");
}

void LoopbackUp(const ChildPlan& c) {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) Fail(c, "socket for lo", errno);
  struct ifreq ifr = {};
  strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
  if (ioctl(fd, SIOCGIFFLAGS, &ifr) != 0) Fail(c, "get lo flags", errno);
  ifr.ifr_flags |= IFF_UP;
  if (ioctl(fd, SIOCSIFFLAGS, &ifr) != 0) Fail(c, "bring lo up", errno);
  close(fd);
}

// Inside the root: targets are made (symlinks resolve within it) and the mounts attached.
void AttachMounts(const ChildPlan& c) {
  for (size_t i = 0; i < c.spec->mounts.size(); ++i) {
    const SandboxMount& m = c.spec->mounts[i];
    const ChildPlan::MountPlan& plan = c.mount_plans[i];
    for (const std::string& prefix : plan.prefixes) mkdir(prefix.c_str(), 0755);
    if (plan.file) {
      EnsureFile(m.target);
    } else {
      mkdir(m.target.c_str(), 0755);
    }
    if (m.type == SandboxMount::Type::kTmpfs) {
      CHECK_SYS(c,
                mount("tmpfs", m.target.c_str(), "tmpfs", MS_NOSUID | MS_NODEV,
                      plan.tmpfs_options.c_str()),
                "mount a RUN --mount tmpfs");
      continue;
    }
    CHECK_SYS(
        c, move_mount(c.mount_tree_fds[i], "", AT_FDCWD, m.target.c_str(), MOVE_MOUNT_F_EMPTY_PATH),
        "attach a RUN --mount");
    close(c.mount_tree_fds[i]);
  }
}

// The bounding set and the permitted and effective sets become the step's capabilities; the
// inheritable and ambient sets are emptied, so nothing survives an exec into a file without
// file capabilities (CVE-2022-24769).
void DropCapabilities(const ChildPlan& c) {
  const uint64_t keep = c.spec->capabilities.bits();
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
    data[i].effective = data[i].permitted = bits;
    data[i].inheritable = 0;
  }
  if (syscall(SYS_capset, &header, data) != 0) Fail(c, "set capabilities", errno);
}

// Long by design: the child's setup sequence (mounts, pivot_root, capabilities, ids, seccomp,
// exec) must run in exactly this order; it is the security argument and is read as one list.
int Pid1Main(void* arg) {
  const ChildPlan& c = *static_cast<ChildPlan*>(arg);
  const SandboxSpec& spec = *c.spec;
  CHECK_SYS(c, mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr), "make / private");
  // The working directory is the overlay root (clone() carried it into this namespace), so no
  // host path is looked up here: the step's root may not be able to reach them. A mount
  // copied from a more privileged namespace is locked and cannot become the root: a copy of
  // it, attached on top, is this namespace's own.
  int root_fd = open_tree(AT_FDCWD, ".", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
  if (root_fd < 0) Fail(c, "clone the root mount", errno);
  CHECK_SYS(c, move_mount(root_fd, "", AT_FDCWD, ".", MOVE_MOUNT_F_EMPTY_PATH),
            "attach the root mount");
  CHECK_SYS(c, fchdir(root_fd), "enter the root mount");
  close(root_fd);
  // The kernel's file systems go on directories of the image's own: a symlink there (or
  // anything else) would carry the mount somewhere else.
  for (const std::string* dir : {&c.proc, &c.dev, &c.sys}) {
    struct stat st;
    if (lstat(dir->c_str(), &st) == 0 && !S_ISDIR(st.st_mode)) {
      Fail(c,
           dir == &c.proc  ? "the image's /proc must be a directory"
           : dir == &c.dev ? "the image's /dev must be a directory"
                           : "the image's /sys must be a directory",
           ENOTDIR);
    }
  }
  EnsureDir(c.proc);
  CHECK_SYS(c, mount("proc", c.proc.c_str(), "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr),
            "mount /proc");
  if (!spec.binfmt.empty()) RegisterEmulators(c);
  SetupDev(c);
  if (spec.mask_paths) MaskFiles(c);
  SetupSys(c);
  if (spec.mask_paths) MaskDirectoriesAndMakeReadOnly(c);
  struct stat st;
  if (lstat(c.etc.c_str(), &st) != 0) EnsureDir(c.etc);
  if (lstat(c.etc.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
    AttachFile(c, c.etc_tree_fds[0], c.resolv_conf);
    AttachFile(c, c.etc_tree_fds[1], c.hosts);
  }
  CHECK_SYS(c, syscall(SYS_pivot_root, ".", "."), "pivot_root");
  CHECK_SYS(c, umount2(".", MNT_DETACH), "detach old root");
  CHECK_SYS(c, chdir("/"), "chdir /");
  AttachMounts(c);
  CHECK_SYS(c, sethostname(spec.hostname.data(), spec.hostname.size()), "sethostname");
  if (spec.network == SandboxSpec::Network::kNone) LoopbackUp(c);
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
  // If the intermediate dies (it dies with kiln), the step dies with it. Set after the id
  // change, which would clear it.
  CHECK_SYS(c, prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0), "set the parent-death signal");
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) Fail(c, "no_new_privs", errno);

  int stdin_fd = spec.stdin_fd >= 0 ? spec.stdin_fd : open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (stdin_fd < 0 || dup2(stdin_fd, 0) < 0) Fail(c, "stdin", errno);
  if (dup2(spec.stdout_fd, 1) < 0 || dup2(spec.stderr_fd, 2) < 0) Fail(c, "stdout", errno);
  // Nothing but 0, 1, 2 survives exec (the error pipe included).
  if (syscall(SYS_close_range, 3, ~0U, CLOSE_RANGE_CLOEXEC) != 0) Fail(c, "close_range", errno);
  // The filter comes last: everything above may need calls the step may not make.
  if (spec.seccomp != nullptr) {
    int err = spec.seccomp->Install();
    if (err != 0) Fail(c, "install the seccomp filter", err);
  }
  // kiln ignores SIGPIPE; the step gets the default action, as from a shell.
  signal(SIGPIPE, SIG_DFL);
  int err = ENOENT;
  for (const std::string& candidate : c.path_candidates) {
    execve(candidate.c_str(), c.argv.data(), c.env.data());
    if (errno != ENOENT && errno != ENOTDIR) err = errno;
  }
  Fail(c, c.exec_step.c_str(), err);
}

}  // namespace

int IntermediateMain(void* arg) {
  ChildPlan& c = *static_cast<ChildPlan*>(arg);
  const SandboxSpec& spec = *c.spec;
  // Descriptors inherited from kiln's other threads (their pipes among them) must not be kept
  // open for as long as this step runs.
  CloseAllExcept(c.keep_fds.data(), c.keep_fds.size());
  CHECK_SYS(c, prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0), "set the parent-death signal");
  // Limits above the current hard ones need privileges the step's namespace does not give.
  for (const SandboxRlimit& r : spec.rlimits) {
    struct rlimit limit = {r.soft, r.hard};
    CHECK_SYS(c, setrlimit(static_cast<__rlimit_resource>(r.resource), &limit), "set a ulimit");
  }
  CHECK_SYS(c, unshare(CLONE_NEWNS), "create a mount namespace");
  CHECK_SYS(c, mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr), "make / private");
  MountOverlay(c);
  CloneBindSources(c);
  CHECK_SYS(c, chdir(c.root.c_str()), "enter the root");
  if (spec.network == SandboxSpec::Network::kPrivate) {
    CHECK_SYS(c, setns(spec.netns_fd, CLONE_NEWNET), "join the step's network");
  }
  if (c.userns_fd >= 0) {
    CHECK_SYS(c, setns(c.userns_fd, CLONE_NEWUSER), "join the step's user namespace");
    // Become the namespace's root, so the files PID 1 makes while setting up are root's.
    if (syscall(SYS_setresgid, 0, 0, 0) != 0) Fail(c, "setgid 0", errno);
    if (syscall(SYS_setresuid, 0, 0, 0) != 0) Fail(c, "setuid 0", errno);
  }
  if (c.joined_fd >= 0) {
    char joined;
    ssize_t n;
    while ((n = read(c.joined_fd, &joined, 1)) < 0 && errno == EINTR) {
    }
    if (n != 1) _exit(127);  // kiln says why
    close(c.joined_fd);
  }
  // PID 1 starts in the root (entered above, while its path could still be looked up): its
  // namespace gets a copy of this working directory, and its cgroup namespace this cgroup.
  // CLONE_PARENT: PID 1 is kiln's child, so this process is done once it has exec'd.
  pid_t pid = clone(Pid1Main, c.pid1_stack_top, c.pid1_flags, &c);
  if (pid < 0) Fail(c, "create the step's namespaces", errno);
  if (write(c.pid_fd, &pid, sizeof pid) != sizeof pid) Fail(c, "report PID 1", errno);
  _exit(0);
}

}  // namespace kiln::builder::sandbox::internal
