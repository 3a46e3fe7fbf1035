#include "builder/sandbox/seccomp_profile.h"

#include <errno.h>

#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "oci/json_util.h"

namespace kiln::builder::sandbox {
namespace {

// The calls every step may make, grouped by what they touch. Everything not named here or in
// the conditional rules below fails with EPERM.
constexpr absl::string_view kAlwaysAllowed[] = {
    // Files, directories and their metadata.
    "access faccessat faccessat2 chdir fchdir getcwd chmod fchmod fchmodat fchmodat2 chown "
    "chown32 fchown fchown32 fchownat lchown lchown32 creat open openat openat2 close "
    "close_range dup dup2 dup3 fcntl fcntl64 flock link linkat symlink symlinkat unlink "
    "unlinkat mkdir mkdirat mknod mknodat rmdir rename renameat renameat2 readlink readlinkat "
    "stat stat64 fstat fstat64 fstatat64 newfstatat lstat lstat64 statx statfs statfs64 fstatfs "
    "fstatfs64 truncate truncate64 ftruncate ftruncate64 fallocate fadvise64 fadvise64_64 "
    "readahead getdents getdents64 umask utime utimes utimensat utimensat_time64 futimesat "
    "sync syncfs fsync fdatasync sync_file_range name_to_handle_at",
    // Extended attributes.
    "getxattr lgetxattr fgetxattr setxattr lsetxattr fsetxattr listxattr llistxattr flistxattr "
    "removexattr lremovexattr fremovexattr getxattrat setxattrat listxattrat removexattrat "
    "file_getattr file_setattr",
    // Reading, writing and moving data.
    "read readv pread64 preadv preadv2 write writev pwrite64 pwritev pwritev2 lseek _llseek "
    "sendfile sendfile64 splice tee vmsplice copy_file_range ioctl",
    // Waiting on descriptors, events and timers.
    "poll ppoll ppoll_time64 select _newselect pselect6 pselect6_time64 epoll_create "
    "epoll_create1 epoll_ctl epoll_ctl_old epoll_wait epoll_wait_old epoll_pwait epoll_pwait2 "
    "eventfd eventfd2 signalfd signalfd4 timerfd_create timerfd_settime timerfd_settime64 "
    "timerfd_gettime timerfd_gettime64 inotify_init inotify_init1 inotify_add_watch "
    "inotify_rm_watch fanotify_mark pipe pipe2",
    // Asynchronous I/O (io_uring stays out: it bypasses the filter).
    "io_setup io_destroy io_submit io_cancel io_getevents io_pgetevents io_pgetevents_time64",
    // Memory.
    "brk mmap mmap2 munmap mremap mprotect madvise mincore msync mlock mlock2 mlockall munlock "
    "munlockall remap_file_pages membarrier memfd_create memfd_secret pkey_alloc pkey_free "
    "pkey_mprotect map_shadow_stack mseal cachestat",
    // Processes, threads, signals and scheduling.
    "execve execveat exit exit_group fork vfork wait4 waitid waitpid kill tkill tgkill "
    "rt_sigaction rt_sigpending rt_sigprocmask rt_sigqueueinfo rt_sigreturn rt_sigsuspend "
    "rt_sigtimedwait rt_sigtimedwait_time64 rt_tgsigqueueinfo sigaltstack sigprocmask sigreturn "
    "restart_syscall pause alarm getitimer setitimer pidfd_open pidfd_send_signal "
    "process_mrelease prctl seccomp set_tid_address set_robust_list get_robust_list rseq "
    "set_thread_area get_thread_area futex futex_time64 futex_waitv futex_wait futex_wake "
    "futex_requeue sched_yield sched_getaffinity sched_setaffinity sched_getattr sched_setattr "
    "sched_getparam sched_setparam sched_getscheduler sched_setscheduler sched_get_priority_max "
    "sched_get_priority_min sched_rr_get_interval sched_rr_get_interval_time64 getpriority "
    "setpriority ioprio_get ioprio_set getcpu getrlimit setrlimit ugetrlimit prlimit64 "
    "getrusage times landlock_create_ruleset landlock_add_rule landlock_restrict_self",
    // Identity.
    "getpid getppid gettid getpgid setpgid getpgrp getsid setsid getuid getuid32 geteuid "
    "geteuid32 getgid getgid32 getegid getegid32 getresuid getresuid32 getresgid getresgid32 "
    "getgroups getgroups32 setuid setuid32 setgid setgid32 setreuid setreuid32 setregid "
    "setregid32 setresuid setresuid32 setresgid setresgid32 setfsuid setfsuid32 setfsgid "
    "setfsgid32 setgroups setgroups32 capget capset",
    // Time.
    "time gettimeofday clock_gettime clock_gettime64 clock_getres clock_getres_time64 "
    "clock_nanosleep clock_nanosleep_time64 nanosleep clock_adjtime clock_adjtime64 adjtimex "
    "timer_create timer_delete timer_settime timer_settime64 timer_gettime timer_gettime64 "
    "timer_getoverrun",
    // Sockets (socket itself is below: AF_VSOCK is refused).
    "socketpair socketcall bind connect listen accept accept4 getsockname getpeername "
    "getsockopt setsockopt send sendto sendmsg sendmmsg recv recvfrom recvmsg recvmmsg "
    "recvmmsg_time64 shutdown",
    // System V and POSIX IPC.
    "ipc msgget msgsnd msgrcv msgctl semget semop semtimedop semtimedop_time64 semctl shmget "
    "shmat shmdt shmctl mq_open mq_unlink mq_timedsend mq_timedsend_time64 mq_timedreceive "
    "mq_timedreceive_time64 mq_notify mq_getsetattr",
    // The system, read-only.
    "uname sysinfo getrandom",
};

struct CapabilityGate {
  const char* cap;
  const char* names;
};

// Calls only a step holding the capability may make (`--cap-add`).
constexpr CapabilityGate kCapabilityGated[] = {
    {"CAP_DAC_READ_SEARCH", "open_by_handle_at"},
    {"CAP_SYS_ADMIN",
     "bpf clone clone3 fanotify_init fsconfig fsmount fsopen fspick lookup_dcookie mount "
     "mount_setattr move_mount open_tree perf_event_open quotactl quotactl_fd setdomainname "
     "sethostname setns syslog umount umount2 unshare"},
    {"CAP_SYS_BOOT", "reboot"},
    {"CAP_SYS_CHROOT", "chroot"},
    {"CAP_SYS_MODULE", "delete_module init_module finit_module"},
    {"CAP_SYS_PACCT", "acct"},
    {"CAP_SYS_PTRACE",
     "kcmp pidfd_getfd process_madvise process_vm_readv process_vm_writev ptrace"},
    {"CAP_SYS_RAWIO", "iopl ioperm"},
    {"CAP_SYS_TIME", "settimeofday stime clock_settime clock_settime64"},
    {"CAP_SYS_TTY_CONFIG", "vhangup"},
    {"CAP_SYS_NICE", "get_mempolicy mbind set_mempolicy set_mempolicy_home_node"},
    {"CAP_SYSLOG", "syslog"},
    {"CAP_BPF", "bpf"},
    {"CAP_PERFMON", "perf_event_open"},
};

struct ArchGate {
  std::vector<std::string> arches;
  const char* names;
};

std::vector<std::string> Words(absl::string_view text) {
  return absl::StrSplit(text, ' ', absl::SkipEmpty());
}

// Namespace flags clone may not carry without CAP_SYS_ADMIN: NEWNS, NEWCGROUP, NEWUTS,
// NEWIPC, NEWUSER, NEWPID, NEWNET.
constexpr uint64_t kNamespaceFlags = 0x7E020000;

SeccompProfile MakeDefault() {
  SeccompProfile p;
  p.default_action = SeccompAction::kErrno;
  p.default_errno = EPERM;
  p.arch_map = {
      {"SCMP_ARCH_X86_64", {"SCMP_ARCH_X86", "SCMP_ARCH_X32"}},
      {"SCMP_ARCH_AARCH64", {"SCMP_ARCH_ARM"}},
      {"SCMP_ARCH_S390X", {"SCMP_ARCH_S390"}},
      {"SCMP_ARCH_RISCV64", {}},
      {"SCMP_ARCH_PPC64LE", {}},
  };
  auto allow = [&](std::vector<std::string> names) {
    SeccompRule r;
    r.names = std::move(names);
    r.action = SeccompAction::kAllow;
    p.syscalls.push_back(std::move(r));
    return &p.syscalls.back();
  };
  for (absl::string_view group : kAlwaysAllowed) allow(Words(group));
  allow({"process_vm_readv", "process_vm_writev", "ptrace"})->includes.min_kernel = "4.8";
  allow({"socket"})->args = {{0, 40 /* AF_VSOCK */, 0, SeccompArg::Op::kNotEqual}};
  // personality: Linux, UNAME26 and their 32-bit variants, and the query 0xffffffff.
  for (uint64_t persona : {0x0ull, 0x8ull, 0x20000ull, 0x20008ull, 0xffffffffull}) {
    allow({"personality"})->args = {{0, persona, 0, SeccompArg::Op::kEqual}};
  }
  for (const ArchGate& gate : std::vector<ArchGate>{
           {{"ppc64le"}, "sync_file_range2 swapcontext"},
           {{"arm", "arm64"},
            "arm_fadvise64_64 arm_sync_file_range sync_file_range2 breakpoint cacheflush set_tls"},
           {{"amd64", "x32"}, "arch_prctl"},
           {{"amd64", "x32", "x86"}, "modify_ldt"},
           {{"s390", "s390x"}, "s390_pci_mmio_read s390_pci_mmio_write s390_runtime_instr"},
           {{"riscv64"}, "riscv_flush_icache"},
       }) {
    allow(Words(gate.names))->includes.arches = gate.arches;
  }
  for (const CapabilityGate& gate : kCapabilityGated) {
    allow(Words(gate.names))->includes.caps = {gate.cap};
  }
  // Without CAP_SYS_ADMIN: clone only without namespace flags (its flags are the second
  // argument on s390), clone3 answers ENOSYS so that libc falls back to clone.
  SeccompRule* clone = allow({"clone"});
  clone->args = {{0, kNamespaceFlags, 0, SeccompArg::Op::kMaskedEqual}};
  clone->excludes.caps = {"CAP_SYS_ADMIN"};
  clone->excludes.arches = {"s390", "s390x"};
  SeccompRule* clone_s390 = allow({"clone"});
  clone_s390->args = {{1, kNamespaceFlags, 0, SeccompArg::Op::kMaskedEqual}};
  clone_s390->includes.arches = {"s390", "s390x"};
  clone_s390->excludes.caps = {"CAP_SYS_ADMIN"};
  SeccompRule* clone3 = allow({"clone3"});
  clone3->action = SeccompAction::kErrno;
  clone3->errno_ret = ENOSYS;
  clone3->excludes.caps = {"CAP_SYS_ADMIN"};
  return p;
}

// Docker's JSON format, field by field.
using Json = nlohmann::json;

absl::Status FieldError(absl::string_view where, absl::string_view message) {
  return absl::InvalidArgumentError(absl::StrCat(where, ": ", message));
}

absl::StatusOr<SeccompAction> ParseAction(const Json& value, absl::string_view where) {
  if (!value.is_string()) return FieldError(where, "expected an action name");
  const std::string& name = value.get_ref<const std::string&>();
  static const std::pair<const char*, SeccompAction> kActions[] = {
      {"SCMP_ACT_KILL", SeccompAction::kKillThread},
      {"SCMP_ACT_KILL_THREAD", SeccompAction::kKillThread},
      {"SCMP_ACT_KILL_PROCESS", SeccompAction::kKillProcess},
      {"SCMP_ACT_TRAP", SeccompAction::kTrap},
      {"SCMP_ACT_ERRNO", SeccompAction::kErrno},
      {"SCMP_ACT_TRACE", SeccompAction::kTrace},
      {"SCMP_ACT_ALLOW", SeccompAction::kAllow},
      {"SCMP_ACT_LOG", SeccompAction::kLog},
  };
  for (const auto& [text, action] : kActions) {
    if (name == text) return action;
  }
  if (name == "SCMP_ACT_NOTIFY") {
    return FieldError(where, "SCMP_ACT_NOTIFY needs a seccomp agent, which kiln does not run");
  }
  return FieldError(where, absl::StrCat("unknown action \"", name, "\""));
}

absl::StatusOr<uint64_t> ParseUnsigned(const Json& value, absl::string_view where) {
  if (value.is_number_unsigned()) return value.get<uint64_t>();
  if (value.is_number_integer() && value.get<int64_t>() >= 0) {
    return static_cast<uint64_t>(value.get<int64_t>());
  }
  return FieldError(where, "expected a non-negative integer");
}

absl::StatusOr<std::vector<std::string>> ParseStrings(const Json& obj, const char* key,
                                                      absl::string_view where) {
  std::vector<std::string> out;
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return out;
  if (!it->is_array()) return FieldError(absl::StrCat(where, ".", key), "expected a list");
  for (const Json& v : *it) {
    if (!v.is_string()) {
      return FieldError(absl::StrCat(where, ".", key), "expected a list of strings");
    }
    out.push_back(v.get<std::string>());
  }
  return out;
}

absl::StatusOr<SeccompCondition> ParseCondition(const Json& obj, const char* key,
                                                absl::string_view where, bool allow_kernel) {
  SeccompCondition c;
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return c;
  std::string here = absl::StrCat(where, ".", key);
  if (!it->is_object()) return FieldError(here, "expected an object");
  auto caps = ParseStrings(*it, "caps", here);
  if (!caps.ok()) return caps.status();
  c.caps = *std::move(caps);
  auto arches = ParseStrings(*it, "arches", here);
  if (!arches.ok()) return arches.status();
  c.arches = *std::move(arches);
  auto kernel = it->find("minKernel");
  if (kernel != it->end() && !kernel->is_null()) {
    if (!allow_kernel || !kernel->is_string()) {
      return FieldError(absl::StrCat(here, ".minKernel"), "expected a version string");
    }
    c.min_kernel = kernel->get<std::string>();
    std::vector<absl::string_view> parts = absl::StrSplit(c.min_kernel, '.');
    int n;
    if (parts.size() < 2 || !absl::SimpleAtoi(parts[0], &n) || !absl::SimpleAtoi(parts[1], &n)) {
      return FieldError(absl::StrCat(here, ".minKernel"),
                        absl::StrCat("\"", c.min_kernel, "\" is not a kernel version like 4.8"));
    }
  }
  return c;
}

absl::StatusOr<SeccompArg> ParseArg(const Json& obj, absl::string_view where) {
  if (!obj.is_object()) return FieldError(where, "expected an object");
  SeccompArg arg;
  auto index = obj.find("index");
  if (index == obj.end()) return FieldError(where, "missing \"index\"");
  auto i = ParseUnsigned(*index, absl::StrCat(where, ".index"));
  if (!i.ok()) return i.status();
  if (*i > 5) return FieldError(absl::StrCat(where, ".index"), "a syscall has arguments 0 to 5");
  arg.index = static_cast<unsigned>(*i);
  for (auto [key, out] : {std::pair{"value", &arg.value}, std::pair{"valueTwo", &arg.value_two}}) {
    auto it = obj.find(key);
    if (it == obj.end() || it->is_null()) continue;
    auto v = ParseUnsigned(*it, absl::StrCat(where, ".", key));
    if (!v.ok()) return v.status();
    *out = *v;
  }
  auto op = obj.find("op");
  if (op == obj.end() || !op->is_string()) return FieldError(where, "missing \"op\"");
  static const std::pair<const char*, SeccompArg::Op> kOps[] = {
      {"SCMP_CMP_NE", SeccompArg::Op::kNotEqual},
      {"SCMP_CMP_LT", SeccompArg::Op::kLessThan},
      {"SCMP_CMP_LE", SeccompArg::Op::kLessOrEqual},
      {"SCMP_CMP_EQ", SeccompArg::Op::kEqual},
      {"SCMP_CMP_GE", SeccompArg::Op::kGreaterOrEqual},
      {"SCMP_CMP_GT", SeccompArg::Op::kGreaterThan},
      {"SCMP_CMP_MASKED_EQ", SeccompArg::Op::kMaskedEqual},
  };
  for (const auto& [text, value] : kOps) {
    if (*op == text) {
      arg.op = value;
      return arg;
    }
  }
  return FieldError(absl::StrCat(where, ".op"),
                    absl::StrCat("unknown comparison \"", op->get<std::string>(), "\""));
}

absl::StatusOr<SeccompRule> ParseRule(const Json& obj, absl::string_view where) {
  if (!obj.is_object()) return FieldError(where, "expected an object");
  SeccompRule rule;
  auto names = ParseStrings(obj, "names", where);
  if (!names.ok()) return names.status();
  rule.names = *std::move(names);
  auto name = obj.find("name");  // the older single-name form
  if (name != obj.end() && !name->is_null()) {
    if (!name->is_string()) return FieldError(absl::StrCat(where, ".name"), "expected a string");
    rule.names.push_back(name->get<std::string>());
  }
  if (rule.names.empty()) return FieldError(where, "names no syscall");
  auto action = obj.find("action");
  if (action == obj.end()) return FieldError(where, "missing \"action\"");
  auto a = ParseAction(*action, absl::StrCat(where, ".action"));
  if (!a.ok()) return a.status();
  rule.action = *a;
  auto errno_ret = obj.find("errnoRet");
  if (errno_ret != obj.end() && !errno_ret->is_null()) {
    auto v = ParseUnsigned(*errno_ret, absl::StrCat(where, ".errnoRet"));
    if (!v.ok()) return v.status();
    if (*v > 4095) return FieldError(absl::StrCat(where, ".errnoRet"), "not an errno value");
    rule.errno_ret = static_cast<int>(*v);
  }
  auto args = obj.find("args");
  if (args != obj.end() && !args->is_null()) {
    if (!args->is_array()) return FieldError(absl::StrCat(where, ".args"), "expected a list");
    if (args->size() > 6) return FieldError(absl::StrCat(where, ".args"), "more than 6 conditions");
    for (size_t i = 0; i < args->size(); ++i) {
      auto arg = ParseArg((*args)[i], absl::StrCat(where, ".args[", i, "]"));
      if (!arg.ok()) return arg.status();
      rule.args.push_back(*arg);
    }
  }
  auto includes = ParseCondition(obj, "includes", where, /*allow_kernel=*/true);
  if (!includes.ok()) return includes.status();
  rule.includes = *std::move(includes);
  auto excludes = ParseCondition(obj, "excludes", where, /*allow_kernel=*/false);
  if (!excludes.ok()) return excludes.status();
  rule.excludes = *std::move(excludes);
  return rule;
}

}  // namespace

const SeccompProfile& DefaultSeccompProfile() {
  static const SeccompProfile* profile = new SeccompProfile(MakeDefault());
  return *profile;
}

absl::StatusOr<SeccompProfile> ParseSeccompProfile(absl::string_view json) {
  auto doc = oci::ParseJsonObject(json, "seccomp profile", kMaxSeccompProfileSize);
  if (!doc.ok()) return doc.status();
  SeccompProfile p;
  auto action = doc->find("defaultAction");
  if (action == doc->end()) return FieldError("seccomp profile", "missing \"defaultAction\"");
  auto a = ParseAction(*action, "defaultAction");
  if (!a.ok()) return a.status();
  p.default_action = *a;
  auto errno_ret = doc->find("defaultErrnoRet");
  if (errno_ret != doc->end() && !errno_ret->is_null()) {
    auto v = ParseUnsigned(*errno_ret, "defaultErrnoRet");
    if (!v.ok()) return v.status();
    if (*v > 4095) return FieldError("defaultErrnoRet", "not an errno value");
    p.default_errno = static_cast<int>(*v);
  }
  for (const char* unsupported : {"listenerPath", "listenerMetadata"}) {
    auto it = doc->find(unsupported);
    if (it != doc->end() && !it->is_null() &&
        !(it->is_string() && it->get<std::string>().empty())) {
      return FieldError(unsupported, "seccomp agents are not supported");
    }
  }
  auto arches = ParseStrings(*doc, "architectures", "seccomp profile");
  if (!arches.ok()) return arches.status();
  p.architectures = *std::move(arches);
  auto arch_map = doc->find("archMap");
  if (arch_map != doc->end() && !arch_map->is_null()) {
    if (!arch_map->is_array()) return FieldError("archMap", "expected a list");
    for (size_t i = 0; i < arch_map->size(); ++i) {
      const Json& e = (*arch_map)[i];
      std::string where = absl::StrCat("archMap[", i, "]");
      if (!e.is_object()) return FieldError(where, "expected an object");
      SeccompProfile::ArchMapEntry entry;
      auto name = e.find("architecture");
      if (name == e.end() || !name->is_string()) {
        return FieldError(where, "missing \"architecture\"");
      }
      entry.architecture = name->get<std::string>();
      auto subs = ParseStrings(e, "subArchitectures", where);
      if (!subs.ok()) return subs.status();
      entry.sub_architectures = *std::move(subs);
      p.arch_map.push_back(std::move(entry));
    }
  }
  auto syscalls = doc->find("syscalls");
  if (syscalls != doc->end() && !syscalls->is_null()) {
    if (!syscalls->is_array()) return FieldError("syscalls", "expected a list");
    for (size_t i = 0; i < syscalls->size(); ++i) {
      auto rule = ParseRule((*syscalls)[i], absl::StrCat("syscalls[", i, "]"));
      if (!rule.ok()) return rule.status();
      p.syscalls.push_back(*std::move(rule));
    }
  }
  return p;
}

}  // namespace kiln::builder::sandbox
