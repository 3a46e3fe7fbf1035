// The breakout probe: a static program a RUN step runs to try, as an attacker would, each way
// out of the sandbox the threat model closes (docs/design.md, "Threat model"). Each attempt
// prints one line, "PROBE <name> contained <detail>" or "PROBE <name> ESCAPED <detail>", and the
// test counts them. Attempts are made harmless where they could be: invalid arguments that a
// permitted call would reject with EINVAL or EBADF, but a filtered one refuses with EPERM; a
// key added by mistake is revoked at once; device nodes are only opened. The one write that
// would change the host if a wall failed (core_pattern) is restored by the test.
//
// Usage: probe all HOST_TCP_PORT ABSTRACT_NAME HOST_NETNS_INODE HOST_IFACE MARKER_PATH
//            DISK_MAJOR DISK_MINOR
//        probe forkbomb N      (tries N processes; prints how many it got)
//        probe memory MIB      (touches MIB MiB)
//        probe cleanup-keys    (on the host: revokes keys a probe left, prints how many)
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/filter.h>
#include <linux/keyctl.h>
#include <linux/perf_event.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/reboot.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

namespace {

int contained = 0, escaped = 0, absent = 0;

void Report(const char* name, bool is_contained, const std::string& detail) {
  std::printf("PROBE %s %s %s\n", name, is_contained ? "contained" : "ESCAPED", detail.c_str());
  std::fflush(stdout);
  (is_contained ? contained : escaped)++;
}

// The kernel has no such interface at all (the test checks the host lacks `path` too), so
// there is nothing to contain: not counted.
void Absent(const char* name, const char* path) {
  std::printf("PROBE %s absent %s\n", name, path);
  std::fflush(stdout);
  ++absent;
}

std::string Err(int err) { return err == 0 ? "succeeded" : std::strerror(err); }

// A syscall wall: contained when the call failed with one of the refusals in `refused`
// (EPERM, EACCES, EROFS, ...), escaped when it succeeded or failed for another reason
// (meaning the kernel looked at its arguments).
void ExpectRefused(const char* name, long rc, std::vector<int> refused = {EPERM, EACCES}) {
  int err = rc < 0 ? errno : 0;
  bool ok = false;
  for (int e : refused) ok |= err == e;
  Report(name, ok, Err(err));
}

std::string ReadSmall(const char* path, ssize_t* size) {
  int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    *size = -errno;
    return "";
  }
  std::string out;
  char buf[4096];
  ssize_t n, total = 0;
  while ((n = ::read(fd, buf, sizeof buf)) > 0 && total < (1 << 20)) {
    out.append(buf, n);
    total += n;
  }
  ::close(fd);
  *size = total;
  return out;
}

// Masked files read as nothing (or are absent on this kernel).
void ExpectEmpty(const char* name, const char* path) {
  ssize_t size;
  ReadSmall(path, &size);
  if (size == -ENOENT) return Absent(name, path);
  Report(name, size <= 0,
         size < 0 ? Err(static_cast<int>(-size)) : std::to_string(size) + " bytes");
}

void ExpectNotWritable(const char* name, const char* path) {
  int fd = ::open(path, O_WRONLY | O_CLOEXEC);
  int err = fd < 0 ? errno : 0;
  if (err == ENOENT) return Absent(name, path);
  if (fd >= 0) ::close(fd);
  Report(name, fd < 0, Err(err));
}

std::string StatusField(const char* field) {
  ssize_t size;
  std::string status = ReadSmall("/proc/self/status", &size);
  size_t at = status.find(std::string(field) + ":");
  if (at == std::string::npos) return "";
  size_t start = status.find_first_not_of(" \t", at + std::strlen(field) + 1);
  return status.substr(start, status.find('\n', start) - start);
}

// A device node of the given numbers, made (if the step may) and opened: in /tmp (the root,
// mounted nodev) and in /dev (the sandbox's tmpfs, where only the device cgroup is in the way).
void ExpectDeviceClosed(const char* name, unsigned major, unsigned minor, bool block = false) {
  bool ok = true;
  std::string detail;
  for (const char* dir : {"/tmp", "/dev"}) {
    std::string path = std::string(dir) + "/.probe-" + name;
    ::unlink(path.c_str());
    int made = ::mknod(path.c_str(), (block ? S_IFBLK : S_IFCHR) | 0600, makedev(major, minor));
    int mknod_err = made == 0 ? 0 : errno;
    int fd = made == 0 ? ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC) : -1;
    int open_err = fd < 0 ? errno : 0;
    if (fd >= 0) ::close(fd);
    ::unlink(path.c_str());
    // Closed if the node could not be made, or not opened for lack of permission.
    ok &= made != 0 || open_err == EPERM || open_err == EACCES;
    detail += std::string(detail.empty() ? "" : "; ") + dir + ": " +
              (made != 0 ? "mknod: " + Err(mknod_err) : "mknod succeeded, open: " + Err(open_err));
  }
  Report(name, ok, detail);
}

int ConnectTcp(const char* addr, int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  sockaddr_in sa = {};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  ::inet_pton(AF_INET, addr, &sa.sin_addr);
  int rc = ::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
  int err = rc == 0 ? 0 : errno;
  if (err == EINPROGRESS) {
    pollfd p = {fd, POLLOUT, 0};
    if (::poll(&p, 1, 2000) != 1) {
      err = ETIMEDOUT;
    } else {
      socklen_t len = sizeof err;
      ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
    }
  }
  ::close(fd);
  return err;
}

// Long by design: one probe after another, each a few lines, in the order the report lists.
void Filesystems(const char* marker) {
  // The host's kernel settings (CVE-style takeovers through core_pattern and friends).
  int fd = ::open("/proc/sys/kernel/core_pattern", O_WRONLY | O_CLOEXEC);
  int err = fd < 0 ? errno : 0;
  if (fd >= 0) {
    const char kValue[] = "|/proc/self/root/tmp/kiln-breakout-core %p";
    err = ::write(fd, kValue, sizeof kValue - 1) < 0 ? errno : 0;
    ::close(fd);
  }
  Report("proc-sys-core-pattern-write", err != 0, Err(err));
  ExpectNotWritable("proc-sys-global-sysctl", "/proc/sys/vm/drop_caches");
  ExpectNotWritable("proc-sys-modprobe", "/proc/sys/kernel/modprobe");
  ExpectNotWritable("proc-sysrq-trigger", "/proc/sysrq-trigger");
  ExpectNotWritable("sys-uevent-helper", "/sys/kernel/uevent_helper");
  ExpectNotWritable("binfmt-register", "/proc/sys/fs/binfmt_misc/register");
  ExpectEmpty("proc-kcore", "/proc/kcore");
  ExpectEmpty("proc-keys", "/proc/keys");
  ExpectEmpty("proc-timer-list", "/proc/timer_list");
  ExpectEmpty("proc-sched-debug", "/proc/sched_debug");
  ExpectEmpty("proc-latency-stats", "/proc/latency_stats");
  DIR* d = ::opendir("/sys/firmware");
  int entries = 0;
  while (d != nullptr && readdir(d) != nullptr) ++entries;
  if (d != nullptr) ::closedir(d);
  Report("sys-firmware", entries <= 2, std::to_string(entries > 2 ? entries - 2 : 0) + " entries");
  ExpectRefused("umount-masked-path", ::umount2("/proc/kcore", MNT_DETACH),
                {EPERM, EINVAL, ENOENT});
  ExpectRefused("umount-read-only-proc-sys", ::umount2("/proc/sys", MNT_DETACH));
  ExpectRefused("remount-proc-sys-writable",
                ::mount(nullptr, "/proc/sys", nullptr, MS_REMOUNT | MS_BIND, nullptr));
  ::mkdir("/tmp/.probe-mnt", 0755);
  ExpectRefused("mount-fresh-proc", ::mount("proc", "/tmp/.probe-mnt", "proc", 0, nullptr));
  ExpectRefused("mount-cgroup-v1-release-agent",
                ::mount("cgroup", "/tmp/.probe-mnt", "cgroup", 0, "rdma"));
  ExpectRefused("mount-binfmt-misc",
                ::mount("binfmt_misc", "/tmp/.probe-mnt", "binfmt_misc", 0, nullptr));
  // The step's own cgroup files, when shown at all, are read-only.
  int cg = ::open("/sys/fs/cgroup/cgroup.procs", O_WRONLY | O_CLOEXEC);
  Report("cgroupfs-write", cg < 0, cg < 0 ? Err(errno) : "writable");
  if (cg >= 0) ::close(cg);
  // chroot out of the root (CAP_SYS_CHROOT is in the default set) and look for the host.
  pid_t pid = ::fork();
  if (pid == 0) {
    ::mkdir("/tmp/.probe-chroot", 0755);
    if (::chroot("/tmp/.probe-chroot") == 0) {
      for (int i = 0; i < 64; ++i) (void)!::chdir("..");
      (void)!::chroot(".");
    }
    ::_exit(::access(marker, F_OK) == 0 ? 1 : 0);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  Report("chroot-escape", WIFEXITED(status) && WEXITSTATUS(status) == 0,
         WEXITSTATUS(status) == 0 ? "host marker not reachable" : "host marker reachable");
  Report("host-marker", ::access(marker, F_OK) != 0, "the host's marker file is not visible");
  struct stat root, dotdot;
  ::stat("/", &root);
  ::stat("/..", &dotdot);
  Report("root-is-root", root.st_ino == dotdot.st_ino && root.st_dev == dotdot.st_dev, "/.. is /");
  // CVE-2024-21626: no descriptor of the builder's is left open, the working directory is in
  // the root.
  d = ::opendir("/proc/self/fd");
  std::string fds;
  while (dirent* e = d != nullptr ? readdir(d) : nullptr) {
    if (e->d_name[0] == '.' || std::atoi(e->d_name) == dirfd(d)) continue;
    if (std::atoi(e->d_name) > 2) fds += std::string(" ") + e->d_name;
  }
  if (d != nullptr) ::closedir(d);
  Report("leaked-descriptors", fds.empty(), fds.empty() ? "only 0 1 2" : "open:" + fds);
  char cwd[4096] = {};
  ssize_t n = ::readlink("/proc/self/cwd", cwd, sizeof cwd - 1);
  Report("cwd-in-root", n > 0 && cwd[0] == '/' && std::strstr(cwd, "(unreachable)") == nullptr,
         cwd);
}

void Devices(unsigned disk_major, unsigned disk_minor) {
  ExpectDeviceClosed("device-kvm", 10, 232);
  ExpectDeviceClosed("device-userfaultfd", 10, 126);
  ExpectDeviceClosed("device-fuse", 10, 229);
  ExpectDeviceClosed("device-loop", 7, 0, /*block=*/true);
  ExpectDeviceClosed("device-loop-control", 10, 237);
  ExpectDeviceClosed("device-zram", 252, 0, /*block=*/true);
  ExpectDeviceClosed("device-mem", 1, 1);
  ExpectDeviceClosed("device-kmsg", 1, 11);
  ExpectDeviceClosed("device-host-disk", disk_major, disk_minor, /*block=*/true);
  int fd = ::open("/dev/null", O_RDWR | O_CLOEXEC);
  Report("device-null-works", fd >= 0, fd >= 0 ? "open" : Err(errno));  // the set Docker allows
  if (fd >= 0) ::close(fd);
}

void Network(int host_port, const char* abstract_name, const char* host_netns,
             const char* host_mac) {
  int err = ConnectTcp("127.0.0.1", host_port);
  Report("host-loopback-service", err != 0, Err(err));
  err = ConnectTcp("10.0.2.2", host_port);  // slirp4netns' gateway
  Report("host-loopback-through-gateway", err != 0, Err(err));
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un un = {};
  un.sun_family = AF_UNIX;
  size_t len = std::strlen(abstract_name);
  std::memcpy(un.sun_path + 1, abstract_name, len);
  int rc = ::connect(fd, reinterpret_cast<sockaddr*>(&un),
                     static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + len));
  Report("host-abstract-socket", rc != 0, Err(rc == 0 ? 0 : errno));
  ::close(fd);
  // The host's container runtimes (a classic way out when their sockets are mounted in).
  bool reached = false;
  for (const char* path :
       {"/run/docker.sock", "/var/run/docker.sock", "/run/containerd/containerd.sock",
        "/run/buildkit/buildkitd.sock", "/run/podman/podman.sock"}) {
    int s = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr = {};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path, sizeof addr.sun_path - 1);
    reached |= ::connect(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    ::close(s);
  }
  Report("host-runtime-sockets", !reached,
         reached ? "a runtime socket answered" : "none reachable");
  char ns[64] = {};
  (void)!::readlink("/proc/self/ns/net", ns, sizeof ns - 1);
  Report("own-network-namespace", std::strstr(ns, host_netns) == nullptr, ns);
  // The host's interface is known by its hardware address: a step's own may share its name.
  std::string seen;
  if (DIR* d = ::opendir("/sys/class/net"); d != nullptr) {
    while (dirent* e = ::readdir(d)) {
      if (e->d_name[0] == '.') continue;
      std::ifstream in(std::string("/sys/class/net/") + e->d_name + "/address");
      std::string mac;
      if (std::getline(in, mac) && mac == host_mac) seen = e->d_name;
    }
    ::closedir(d);
  }
  Report("host-interface-hidden", seen.empty(),
         std::string(host_mac) + (seen.empty() ? " not visible" : " visible as " + seen));
  // Raw sockets see only the namespace's own interfaces (checked above).
  fd = ::socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(0x0003));
  if (fd >= 0) ::close(fd);
}

void Syscalls() {
  ExpectRefused("unshare-user-namespace", ::unshare(CLONE_NEWUSER));
  ExpectRefused("unshare-mount-pid-namespaces", ::unshare(CLONE_NEWNS | CLONE_NEWPID));
  ExpectRefused("clone-new-user", ::syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0));
  ExpectRefused("clone3", ::syscall(SYS_clone3, nullptr, 0), {ENOSYS, EPERM});
  ExpectRefused("setns", ::syscall(SYS_setns, 0, CLONE_NEWNET), {EPERM});
  long key = ::syscall(SYS_add_key, "user", "kiln-breakout", "x", 1, KEY_SPEC_USER_KEYRING);
  int key_err = key < 0 ? errno : 0;
  if (key >= 0) ::syscall(SYS_keyctl, KEYCTL_INVALIDATE, key);
  Report("add-key-to-host-keyring", key < 0, Err(key_err));
  ExpectRefused("keyctl", ::syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_USER_KEYRING, 0));
  perf_event_attr attr = {};
  attr.size = sizeof attr;
  attr.type = PERF_TYPE_SOFTWARE;
  attr.config = PERF_COUNT_SW_CPU_CLOCK;
  long pfd = ::syscall(SYS_perf_event_open, &attr, 0, -1, -1, 0);
  int perf_err = pfd < 0 ? errno : 0;
  if (pfd >= 0) ::close(static_cast<int>(pfd));
  Report("perf-event-open", pfd < 0, Err(perf_err));
  ExpectRefused("userfaultfd", ::syscall(SYS_userfaultfd, O_CLOEXEC));
  ExpectRefused("socket-vsock", ::socket(40 /* AF_VSOCK */, SOCK_STREAM, 0), {EPERM, EACCES});
  ExpectRefused("personality-read-implies-exec", ::personality(READ_IMPLIES_EXEC));
  sock_filter insns[] = {{BPF_RET | BPF_K, 0, 0, 0}};
  bpf_attr battr = {};
  battr.prog_type = BPF_PROG_TYPE_SOCKET_FILTER;
  battr.insn_cnt = 1;
  battr.insns = reinterpret_cast<uint64_t>(insns);  // not eBPF: a permitted call says EINVAL
  battr.license = reinterpret_cast<uint64_t>("GPL");
  ExpectRefused("bpf", ::syscall(SYS_bpf, BPF_PROG_LOAD, &battr, sizeof battr));
  ExpectRefused("io-uring", ::syscall(SYS_io_uring_setup, 1, nullptr));
  // Shocker: reading host files by handle needs CAP_DAC_READ_SEARCH.
  ExpectRefused("open-by-handle-at", ::syscall(SYS_open_by_handle_at, AT_FDCWD, nullptr, 0));
  ExpectRefused("finit-module", ::syscall(SYS_finit_module, -1, "", 0));
  ExpectRefused("kexec-load", ::syscall(SYS_kexec_load, 0, 0, nullptr, 0xdeadbeef));
  // A wrong magic: a permitted reboot(2) answers EINVAL and does nothing.
  ExpectRefused("reboot", ::syscall(SYS_reboot, 1, 2, 3, nullptr));
  ExpectRefused("syslog-dmesg", ::syscall(SYS_syslog, 10 /* SIZE_BUFFER */, nullptr, 0));
  timespec ts = {0, 0};
  ExpectRefused("clock-settime", ::syscall(SYS_clock_settime, 1000, &ts));  // no such clock
  ExpectRefused("sethostname", ::sethostname("kiln-breakout", 13));
  ExpectRefused("iopl", ::syscall(SYS_iopl, 3));
  ExpectRefused("swapon", ::syscall(SYS_swapon, "/nonexistent", 0), {EPERM});
  ExpectRefused("acct", ::syscall(SYS_acct, "/tmp/.probe-acct"), {EPERM});
}

void Identity() {
  std::string inh = StatusField("CapInh"), amb = StatusField("CapAmb"), bnd = StatusField("CapBnd");
  Report("no-inheritable-capabilities", inh == "0000000000000000", "CapInh " + inh);
  Report("no-ambient-capabilities", amb == "0000000000000000", "CapAmb " + amb);
  // Docker's default set: nothing beyond 0xa80425fb.
  unsigned long long bits = std::strtoull(bnd.c_str(), nullptr, 16);
  Report("bounding-set", (bits & ~0xa80425fbull) == 0, "CapBnd " + bnd);
  Report("no-new-privs", StatusField("NoNewPrivs") == "1",
         "NoNewPrivs " + StatusField("NoNewPrivs"));
  Report("seccomp-filter", StatusField("Seccomp") == "2", "Seccomp " + StatusField("Seccomp"));
  ssize_t size;
  std::string cgroups = ReadSmall("/proc/self/cgroup", &size);
  bool own_root = true;
  size_t at = 0;
  while (at < cgroups.size()) {
    size_t nl = cgroups.find('\n', at);
    std::string line = cgroups.substr(at, nl - at);
    if (!line.empty() && line.substr(line.rfind(':') + 1) != "/") own_root = false;
    at = nl == std::string::npos ? cgroups.size() : nl + 1;
  }
  Report("own-cgroup-namespace", own_root, "every hierarchy shows /");
  // Host processes are out of sight: the step's PID namespace holds only the step.
  DIR* d = ::opendir("/proc");
  int pids = 0;
  while (dirent* e = d != nullptr ? readdir(d) : nullptr) pids += std::atoi(e->d_name) > 0;
  if (d != nullptr) ::closedir(d);
  Report("host-processes-hidden", pids < 10, std::to_string(pids) + " processes visible");
  Report("kill-host-init", ::kill(-1, 0) != 0 || pids < 10, "only the step's processes");
  std::string uid_map = ReadSmall("/proc/self/uid_map", &size);
  std::printf("PROBE-INFO uid_map %s", uid_map.c_str());
}

int ForkBomb(int n) {
  ::setpgid(0, 0);  // a group of its own, killed as one at the end
  int made = 0;
  for (int i = 0; i < n; ++i) {
    pid_t p = ::fork();
    if (p < 0) break;
    if (p == 0) {
      ::pause();
      ::_exit(0);
    }
    ++made;
  }
  std::printf("PROBE-FORKS %d of %d\n", made, n);
  std::fflush(stdout);
  ::kill(0, SIGKILL);  // the whole process group, this one included
  return 0;
}

int Memory(long mib) {
  size_t size = static_cast<size_t>(mib) << 20;
  char* p = static_cast<char*>(
      ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  if (p == MAP_FAILED) return 2;
  for (size_t i = 0; i < size; i += 4096) p[i] = 1;
  std::printf("PROBE-MEMORY touched %ld MiB\n", mib);
  return 0;
}

// On the host after a run: keys named kiln-breakout in the caller's keyrings are revoked.
int CleanupKeys() {
  int revoked = 0;
  for (long ring : {long{KEY_SPEC_USER_KEYRING}, long{KEY_SPEC_SESSION_KEYRING}}) {
    long key;
    while ((key = ::syscall(SYS_keyctl, KEYCTL_SEARCH, ring, "user", "kiln-breakout", 0)) >= 0) {
      ::syscall(SYS_keyctl, KEYCTL_UNLINK, key, ring);
      ++revoked;
    }
  }
  std::printf("%d\n", revoked);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "forkbomb" && argc == 3) return ForkBomb(std::atoi(argv[2]));
  if (mode == "memory" && argc == 3) return Memory(std::atol(argv[2]));
  if (mode == "cleanup-keys") return CleanupKeys();
  if (mode != "all" || argc != 9) {
    std::fprintf(stderr, "usage: see tests/breakout/probe.cc\n");
    return 2;
  }
  Filesystems(argv[6]);
  Devices(static_cast<unsigned>(std::atoi(argv[7])), static_cast<unsigned>(std::atoi(argv[8])));
  Network(std::atoi(argv[2]), argv[3], argv[4], argv[5]);
  Syscalls();
  Identity();
  std::printf("PROBES %d probes, %d contained (%d absent from this kernel)\n", contained + escaped,
              contained, absent);
  return 0;
}
