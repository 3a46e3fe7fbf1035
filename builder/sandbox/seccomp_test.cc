// Profiles parsed from Docker's format, and filters installed for real in forked children:
// each probe reports the errno its syscall got.
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <sched.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <functional>

#include "builder/sandbox/seccomp_filter.h"
#include "builder/sandbox/seccomp_profile.h"
#include "gtest/gtest.h"

namespace kiln::builder::sandbox {
namespace {

// Runs `probe` in a child under `filter`; returns what the probe returned (an errno, or 0).
int UnderFilter(const SeccompFilter& filter, const std::function<int()>& probe) {
  pid_t pid = ::fork();
  if (pid == 0) {
    if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) ::_exit(250);
    if (filter.Install() != 0) ::_exit(251);
    ::_exit(probe());
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 200 + WTERMSIG(status);
}

// The errno of a raw syscall, or 0 if it succeeded.
int Errno(long rc) { return rc < 0 ? errno : 0; }

SeccompFilter Default(CapabilitySet caps = CapabilitySet::Default()) {
  auto filter = SeccompFilter::Compile(DefaultSeccompProfile(), caps);
  EXPECT_TRUE(filter.ok()) << filter.status();
  return *std::move(filter);
}

TEST(SeccompDefaultTest, OrdinaryCallsWork) {
  SeccompFilter f = Default();
  EXPECT_EQ(UnderFilter(f, [] { return Errno(::getpid()); }), 0);
  EXPECT_EQ(UnderFilter(f, [] { return Errno(::socket(AF_INET, SOCK_STREAM, 0)); }), 0);
  EXPECT_EQ(UnderFilter(f, [] { return Errno(::personality(0xffffffff)); }), 0);
  EXPECT_EQ(UnderFilter(f, [] { return Errno(::mkdir("/proc/x/y", 0755)); }), ENOENT);
  // fork() is clone without namespace flags.
  EXPECT_EQ(UnderFilter(f,
                        [] {
                          pid_t p = ::fork();
                          if (p == 0) ::_exit(0);
                          return Errno(p);
                        }),
            0);
}

TEST(SeccompDefaultTest, NamespacesKeyringsAndKernelInterfacesAreRefused) {
  SeccompFilter f = Default();
  EXPECT_EQ(UnderFilter(f, [] { return Errno(::unshare(CLONE_NEWUSER)); }), EPERM);
  EXPECT_EQ(UnderFilter(f, [] { return Errno(::syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0)); }),
            EPERM);
  EXPECT_EQ(UnderFilter(f, [] { return Errno(::syscall(SYS_clone3, nullptr, 0)); }), ENOSYS);
  EXPECT_EQ(UnderFilter(f, [] { return Errno(::syscall(SYS_add_key, "user", "k", "v", 1, -3)); }),
            EPERM);
  EXPECT_EQ(UnderFilter(f, [] { return Errno(::syscall(SYS_keyctl, 0, -3, 0)); }), EPERM);
  EXPECT_EQ(UnderFilter(f, [] { return Errno(::syscall(SYS_perf_event_open, 0, 0, -1, -1, 0)); }),
            EPERM);
  EXPECT_EQ(UnderFilter(f, [] { return Errno(::syscall(SYS_userfaultfd, 0)); }), EPERM);
  EXPECT_EQ(UnderFilter(f, [] { return Errno(::syscall(SYS_io_uring_setup, 1, nullptr)); }), EPERM);
  EXPECT_EQ(UnderFilter(f, [] { return Errno(::socket(40 /* AF_VSOCK */, SOCK_STREAM, 0)); }),
            EPERM);
  EXPECT_EQ(UnderFilter(f, [] { return Errno(::personality(READ_IMPLIES_EXEC)); }), EPERM);
  EXPECT_EQ(UnderFilter(f, [] { return Errno(::syscall(SYS_mount, "x", "/", "tmpfs", 0, 0)); }),
            EPERM);
  EXPECT_EQ(UnderFilter(f, [] { return Errno(::syscall(SYS_bpf, 0, nullptr, 0)); }), EPERM);
  EXPECT_EQ(UnderFilter(f, [] { return Errno(::syscall(SYS_kexec_load, 0, 0, 0, 0)); }), EPERM);
  EXPECT_EQ(UnderFilter(f, [] { return Errno(::syscall(SYS_open_by_handle_at, -1, 0, 0)); }),
            EPERM);
}

TEST(SeccompDefaultTest, NewerSyscallsByNumberAndUnknownOnesAnswerEnosys) {
  SeccompFilter f = Default();
  // fchmodat2 (452) is allowed: the kernel itself answers for the missing path.
  EXPECT_EQ(UnderFilter(f, [] { return Errno(::syscall(452, AT_FDCWD, "/nonexistent/x", 0, 0)); }),
            ENOENT);
  // A number no kernel has yet: ENOSYS, so libc falls back.
  EXPECT_EQ(UnderFilter(f, [] { return Errno(::syscall(600)); }), ENOSYS);
  // A newer call Docker's profile does not list: refused like any other.
  EXPECT_EQ(UnderFilter(f, [] { return Errno(::syscall(457 /* statmount */, 0, 0, 0, 0)); }),
            EPERM);
}

TEST(SeccompDefaultTest, CapabilitiesUnlockTheirCalls) {
  CapabilitySet caps = CapabilitySet::Default();
  caps.Add(CAP_SYS_ADMIN);
  SeccompFilter f = Default(caps);
  // With CAP_SYS_ADMIN the filter lets unshare and clone3 through (the kernel decides).
  EXPECT_NE(UnderFilter(f, [] { return Errno(::syscall(SYS_clone3, nullptr, 0)); }), ENOSYS);
  EXPECT_NE(UnderFilter(f, [] { return Errno(::syscall(SYS_setns, -1, 0)); }), EPERM);
  caps.Remove(CAP_SYS_CHROOT);
  EXPECT_EQ(UnderFilter(Default(caps), [] { return Errno(::chroot("/")); }), EPERM);
}

TEST(SeccompProfileTest, ParsesDockersFormat) {
  auto p = ParseSeccompProfile(R"({
    "defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 38,
    "archMap": [{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86"]}],
    "syscalls": [
      {"names": ["read", "write"], "action": "SCMP_ACT_ALLOW", "comment": "io"},
      {"name": "clone", "action": "SCMP_ACT_ALLOW",
       "args": [{"index": 0, "value": 2114060288, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}],
       "excludes": {"caps": ["CAP_SYS_ADMIN"], "arches": ["s390x"]}},
      {"names": ["ptrace"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1,
       "includes": {"minKernel": "4.8", "caps": ["CAP_SYS_PTRACE"]}}
    ]})");
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->default_action, SeccompAction::kErrno);
  EXPECT_EQ(p->default_errno, 38);
  ASSERT_EQ(p->arch_map.size(), 1u);
  EXPECT_EQ(p->arch_map[0].sub_architectures, std::vector<std::string>{"SCMP_ARCH_X86"});
  ASSERT_EQ(p->syscalls.size(), 3u);
  EXPECT_EQ(p->syscalls[1].names, std::vector<std::string>{"clone"});
  ASSERT_EQ(p->syscalls[1].args.size(), 1u);
  EXPECT_EQ(p->syscalls[1].args[0].op, SeccompArg::Op::kMaskedEqual);
  EXPECT_EQ(p->syscalls[1].args[0].value, 2114060288u);
  EXPECT_EQ(p->syscalls[1].excludes.arches, std::vector<std::string>{"s390x"});
  EXPECT_EQ(p->syscalls[2].includes.min_kernel, "4.8");
  EXPECT_EQ(p->syscalls[2].errno_ret, 1);
}

TEST(SeccompProfileTest, AUserProfileIsEnforced) {
  auto p = ParseSeccompProfile(R"({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
      {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]})");
  ASSERT_TRUE(p.ok()) << p.status();
  auto f = SeccompFilter::Compile(*p, CapabilitySet::Default());
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(UnderFilter(*f, [] { return Errno(::mkdir("/proc/x/y", 0755)); }), EACCES);
  EXPECT_EQ(UnderFilter(*f, [] { return Errno(::unshare(0)); }), 0);
}

TEST(SeccompProfileTest, RepeatedArgumentConditionsMatchAny) {
  auto p = ParseSeccompProfile(R"({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
      {"names": ["exit_group", "exit", "getpid", "prctl", "seccomp"], "action": "SCMP_ACT_ALLOW"},
      {"names": ["personality"], "action": "SCMP_ACT_ALLOW", "args": [
        {"index": 0, "value": 0, "op": "SCMP_CMP_EQ"},
        {"index": 0, "value": 4294967295, "op": "SCMP_CMP_EQ"}]}]})");
  ASSERT_TRUE(p.ok()) << p.status();
  auto f = SeccompFilter::Compile(*p, CapabilitySet::Default());
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(UnderFilter(*f, [] { return Errno(::personality(0xffffffff)); }), 0);
  EXPECT_EQ(UnderFilter(*f, [] { return Errno(::personality(8)); }), EPERM);
}

TEST(SeccompProfileTest, MalformedProfilesAreClearErrors) {
  struct Case {
    const char* json;
    const char* message;
  };
  for (const Case& c : std::vector<Case>{
           {"[]", "seccomp profile: expected a JSON object"},
           {"{", "seccomp profile: invalid JSON"},
           {"{}", "seccomp profile: missing \"defaultAction\""},
           {R"({"defaultAction": "SCMP_ACT_FLY"})",
            "defaultAction: unknown action \"SCMP_ACT_FLY\""},
           {R"({"defaultAction": "SCMP_ACT_NOTIFY"})",
            "defaultAction: SCMP_ACT_NOTIFY needs a seccomp agent, which kiln does not run"},
           {R"({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": {}})", "syscalls: expected a list"},
           {R"({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"action": "SCMP_ACT_ERRNO"}]})",
            "syscalls[0]: names no syscall"},
           {R"({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["x"],
              "action": "SCMP_ACT_ERRNO", "args": [{"index": 9, "value": 1, "op": "SCMP_CMP_EQ"}]}]})",
            "syscalls[0].args[0].index: a syscall has arguments 0 to 5"},
           {R"({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["x"],
              "action": "SCMP_ACT_ERRNO", "args": [{"index": 0, "value": -1, "op": "SCMP_CMP_EQ"}]}]})",
            "syscalls[0].args[0].value: expected a non-negative integer"},
           {R"({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["x"],
              "action": "SCMP_ACT_ERRNO", "includes": {"minKernel": "new"}}]})",
            "syscalls[0].includes.minKernel: \"new\" is not a kernel version like 4.8"},
           {R"({"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/run/agent.sock"})",
            "listenerPath: seccomp agents are not supported"},
       }) {
    auto p = ParseSeccompProfile(c.json);
    ASSERT_FALSE(p.ok()) << c.json;
    EXPECT_EQ(p.status().message(), c.message) << c.json;
  }
  auto big = ParseSeccompProfile(std::string(kMaxSeccompProfileSize + 1, ' '));
  EXPECT_FALSE(big.ok());
  auto bad_arch = ParseSeccompProfile(R"({"defaultAction": "SCMP_ACT_ALLOW",
                                          "architectures": ["SCMP_ARCH_VAX"]})");
  ASSERT_TRUE(bad_arch.ok());
  EXPECT_EQ(SeccompFilter::Compile(*bad_arch, CapabilitySet::Default()).status().message(),
            "unknown architecture \"SCMP_ARCH_VAX\"");
}

}  // namespace
}  // namespace kiln::builder::sandbox
