#include "builder/sandbox/seccomp_filter.h"

#include <errno.h>
#include <linux/audit.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <stddef.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "base/status_macros.h"
#include "base/unique_fd.h"

namespace kiln::builder::sandbox {
namespace {

// Syscalls added to Linux after the libseccomp kiln links was made. Since Linux 5.1 a new
// syscall has the same number on every architecture but alpha (x32 adds its flag bit), so
// these are matched by number on the architectures listed in kUniformArches.
struct NewerSyscall {
  const char* name;
  int nr;
};
constexpr NewerSyscall kNewerSyscalls[] = {
    {"cachestat", 451},         {"fchmodat2", 452},        {"map_shadow_stack", 453},
    {"futex_wake", 454},        {"futex_wait", 455},       {"futex_requeue", 456},
    {"statmount", 457},         {"listmount", 458},        {"lsm_get_self_attr", 459},
    {"lsm_set_self_attr", 460}, {"lsm_list_modules", 461}, {"mseal", 462},
    {"setxattrat", 463},        {"getxattrat", 464},       {"listxattrat", 465},
    {"removexattrat", 466},     {"open_tree_attr", 467},   {"file_getattr", 468},
    {"file_setattr", 469},
};
// Syscall numbers from here up to kLastSyscallSlot do not exist yet: they answer ENOSYS.
constexpr int kFirstUnknownSyscall = 470;
constexpr int kLastSyscallSlot = 1023;
constexpr uint32_t kUniformArches[] = {AUDIT_ARCH_X86_64, AUDIT_ARCH_I386, AUDIT_ARCH_AARCH64,
                                       AUDIT_ARCH_ARM};

uint32_t ActionValue(SeccompAction action, int errno_ret) {
  switch (action) {
    case SeccompAction::kKillThread:
      return SCMP_ACT_KILL;
    case SeccompAction::kKillProcess:
      return SCMP_ACT_KILL_PROCESS;
    case SeccompAction::kTrap:
      return SCMP_ACT_TRAP;
    case SeccompAction::kErrno:
      return SCMP_ACT_ERRNO(errno_ret);
    case SeccompAction::kTrace:
      return SCMP_ACT_TRACE(errno_ret);
    case SeccompAction::kAllow:
      return SCMP_ACT_ALLOW;
    case SeccompAction::kLog:
      return SCMP_ACT_LOG;
  }
  return SCMP_ACT_KILL;
}

scmp_compare CompareOp(SeccompArg::Op op) {
  switch (op) {
    case SeccompArg::Op::kNotEqual:
      return SCMP_CMP_NE;
    case SeccompArg::Op::kLessThan:
      return SCMP_CMP_LT;
    case SeccompArg::Op::kLessOrEqual:
      return SCMP_CMP_LE;
    case SeccompArg::Op::kEqual:
      return SCMP_CMP_EQ;
    case SeccompArg::Op::kGreaterOrEqual:
      return SCMP_CMP_GE;
    case SeccompArg::Op::kGreaterThan:
      return SCMP_CMP_GT;
    case SeccompArg::Op::kMaskedEqual:
      return SCMP_CMP_MASKED_EQ;
  }
  return SCMP_CMP_EQ;
}

// "SCMP_ARCH_X86_64" → libseccomp's token for it; 0 when unknown.
uint32_t ResolveArch(absl::string_view name) {
  absl::string_view bare = name;
  if (!absl::ConsumePrefix(&bare, "SCMP_ARCH_")) return 0;
  return seccomp_arch_resolve_name(absl::AsciiStrToLower(bare).c_str());
}

std::pair<int, int> KernelVersion() {
  struct utsname u;
  if (::uname(&u) != 0) return {0, 0};
  std::vector<absl::string_view> parts = absl::StrSplit(u.release, absl::ByAnyChar(".-"));
  int major = 0, minor = 0;
  if (parts.size() >= 2) {
    (void)absl::SimpleAtoi(parts[0], &major);
    (void)absl::SimpleAtoi(parts[1], &minor);
  }
  return {major, minor};
}

bool KernelAtLeast(const std::string& version) {
  std::vector<absl::string_view> parts = absl::StrSplit(version, '.');
  int major = 0, minor = 0;
  if (parts.size() < 2 || !absl::SimpleAtoi(parts[0], &major) ||
      !absl::SimpleAtoi(parts[1], &minor)) {
    return false;
  }
  return KernelVersion() >= std::make_pair(major, minor);
}

bool Listed(const std::vector<std::string>& arches, const std::string& native) {
  for (const std::string& a : arches) {
    if (a == native || (native == "386" && a == "x86")) return true;
  }
  return false;
}

// Whether a rule applies to a step with `caps` on this machine (Docker's semantics: every
// included capability held, no excluded one; the native architecture listed in includes, not
// in excludes; the kernel at least includes.minKernel).
bool Applies(const SeccompRule& rule, const CapabilitySet& caps, const std::string& native) {
  for (const std::string& cap : rule.includes.caps) {
    if (!caps.Has(CapabilityFromName(cap))) return false;
  }
  if (!rule.includes.arches.empty() && !Listed(rule.includes.arches, native)) return false;
  if (!rule.includes.min_kernel.empty() && !KernelAtLeast(rule.includes.min_kernel)) return false;
  for (const std::string& cap : rule.excludes.caps) {
    if (caps.Has(CapabilityFromName(cap))) return false;
  }
  if (Listed(rule.excludes.arches, native)) return false;
  return true;
}

class Context {
 public:
  explicit Context(uint32_t default_action) : ctx_(seccomp_init(default_action)) {}
  ~Context() {
    if (ctx_ != nullptr) seccomp_release(ctx_);
  }
  scmp_filter_ctx get() const { return ctx_; }

 private:
  scmp_filter_ctx ctx_;
};

absl::Status AddRule(scmp_filter_ctx ctx, const SeccompRule& rule, int nr, uint32_t action,
                     const std::string& name) {
  // libseccomp takes one condition per argument; conditions on the same argument more than
  // once become one rule each (they match if any does), as runc does.
  std::set<unsigned> seen;
  bool repeated = false;
  for (const SeccompArg& a : rule.args) repeated |= !seen.insert(a.index).second;
  std::vector<std::vector<scmp_arg_cmp>> sets;
  auto cmp = [](const SeccompArg& a) {
    scmp_arg_cmp c{};
    c.arg = a.index;
    c.op = CompareOp(a.op);
    c.datum_a = a.value;
    c.datum_b = a.value_two;
    return c;
  };
  if (repeated) {
    for (const SeccompArg& a : rule.args) sets.push_back({cmp(a)});
  } else {
    sets.emplace_back();
    for (const SeccompArg& a : rule.args) sets.back().push_back(cmp(a));
  }
  for (const auto& conds : sets) {
    int rc = seccomp_rule_add_array(ctx, action, nr, conds.size(), conds.data());
    if (rc < 0) return ErrnoError(absl::StrCat("seccomp rule for ", name), -rc);
  }
  return absl::OkStatus();
}

sock_filter Statement(uint16_t code, uint32_t k) { return sock_filter{code, 0, 0, k}; }
sock_filter Jump(uint16_t code, uint32_t k, uint8_t jt, uint8_t jf) {
  return sock_filter{code, jt, jf, k};
}

// The instructions run before libseccomp's program: on the architectures whose new syscalls
// share numbers, `numbered` calls get their action and unknown numbers ENOSYS; anything else
// falls through to the program that follows.
std::vector<sock_filter> Preamble(const std::map<int, uint32_t>& numbered) {
  // 0: load nr; 1..N: one check per numbered call; N+1, N+2: the unknown range; N+3: ENOSYS;
  // N+4..2N+3: the numbered calls' actions, in the order of their checks.
  const uint8_t n = static_cast<uint8_t>(numbered.size());
  std::vector<sock_filter> body;
  body.push_back(Statement(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)));
  for (const auto& [nr, action] : numbered) {
    body.push_back(Jump(BPF_JMP | BPF_JEQ | BPF_K, nr, n + 2, 0));
  }
  body.push_back(Jump(BPF_JMP | BPF_JGE | BPF_K, kFirstUnknownSyscall, 0, n + 2));
  body.push_back(Jump(BPF_JMP | BPF_JGT | BPF_K, kLastSyscallSlot, n + 1, 0));
  body.push_back(Statement(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS));
  for (const auto& [nr, action] : numbered) body.push_back(Statement(BPF_RET | BPF_K, action));
  // The arch check in front: on another architecture skip everything above.
  std::vector<sock_filter> out;
  out.push_back(Statement(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, arch)));
  const size_t arches = std::size(kUniformArches);
  for (size_t a = 0; a < arches; ++a) {
    out.push_back(Jump(BPF_JMP | BPF_JEQ | BPF_K, kUniformArches[a], arches - a, 0));
  }
  out.push_back(Statement(BPF_JMP | BPF_JA, body.size()));
  out.insert(out.end(), body.begin(), body.end());
  return out;
}

absl::StatusOr<std::vector<sock_filter>> Export(scmp_filter_ctx ctx) {
  UniqueFd fd(::memfd_create("seccomp", MFD_CLOEXEC));
  if (!fd.valid()) return ErrnoError("memfd_create");
  int rc = seccomp_export_bpf(ctx, fd.get());
  if (rc < 0) return ErrnoError("seccomp_export_bpf", -rc);
  off_t size = ::lseek(fd.get(), 0, SEEK_END);
  if (size < 0 || size % sizeof(sock_filter) != 0) return absl::InternalError("bad BPF size");
  std::vector<sock_filter> program(size / sizeof(sock_filter));
  if (::pread(fd.get(), program.data(), size, 0) != size) return ErrnoError("read BPF");
  return program;
}

}  // namespace

std::string NativeGoArch() {
  switch (seccomp_arch_native()) {
    case SCMP_ARCH_X86_64:
      return "amd64";
    case SCMP_ARCH_X86:
      return "386";
    case SCMP_ARCH_X32:
      return "x32";
    case SCMP_ARCH_AARCH64:
      return "arm64";
    case SCMP_ARCH_ARM:
      return "arm";
    case SCMP_ARCH_PPC64LE:
      return "ppc64le";
    case SCMP_ARCH_S390X:
      return "s390x";
    case SCMP_ARCH_S390:
      return "s390";
    case SCMP_ARCH_RISCV64:
      return "riscv64";
    default:
      return "unknown";
  }
}

absl::StatusOr<SeccompFilter> SeccompFilter::Compile(const SeccompProfile& profile,
                                                     const CapabilitySet& caps) {
  uint32_t default_action = ActionValue(profile.default_action, profile.default_errno);
  Context ctx(default_action);
  if (ctx.get() == nullptr) return absl::InternalError("seccomp_init failed");
  // The filter is loaded by the sandbox, after it sets no_new_privs itself.
  seccomp_attr_set(ctx.get(), SCMP_FLTATR_CTL_NNP, 0);
  // A binary search over syscall numbers instead of a linear chain: every syscall of the step
  // runs the filter, and the kernel runs it for every number when it is attached.
  seccomp_attr_set(ctx.get(), SCMP_FLTATR_CTL_OPTIMIZE, 2);
  std::vector<std::string> arches = profile.architectures;
  if (arches.empty()) {
    for (const auto& entry : profile.arch_map) {
      if (ResolveArch(entry.architecture) == seccomp_arch_native()) {
        arches = entry.sub_architectures;
      }
    }
  }
  for (const std::string& name : arches) {
    uint32_t arch = ResolveArch(name);
    if (arch == 0) {
      return absl::InvalidArgumentError(absl::StrCat("unknown architecture \"", name, "\""));
    }
    if (arch == seccomp_arch_native()) continue;
    int rc = seccomp_arch_add(ctx.get(), arch);
    if (rc < 0 && rc != -EEXIST) return ErrnoError(absl::StrCat("add architecture ", name), -rc);
  }

  const std::string native = NativeGoArch();
  std::map<int, uint32_t> numbered;
  for (const SeccompRule& rule : profile.syscalls) {
    if (!Applies(rule, caps, native)) continue;
    int errno_ret = rule.errno_ret.value_or(EPERM);
    uint32_t action = ActionValue(rule.action, errno_ret);
    if (action == default_action) continue;  // libseccomp refuses rules that change nothing
    for (const std::string& name : rule.names) {
      int nr = seccomp_syscall_resolve_name(name.c_str());
      if (nr == __NR_SCMP_ERROR) {
        // Unknown to libseccomp: one of the newer syscalls, or (as Docker does) ignored.
        for (const NewerSyscall& s : kNewerSyscalls) {
          if (name == s.name && rule.args.empty()) numbered.emplace(s.nr, action);
        }
        continue;
      }
      RETURN_IF_ERROR(AddRule(ctx.get(), rule, nr, action, name));
    }
  }
  ASSIGN_OR_RETURN(std::vector<sock_filter> program, Export(ctx.get()));
  SeccompFilter filter;
  filter.program_ = Preamble(numbered);
  filter.program_.insert(filter.program_.end(), program.begin(), program.end());
  if (filter.program_.size() > BPF_MAXINSNS) {
    return absl::ResourceExhaustedError(
        absl::StrCat("the seccomp filter has ", filter.program_.size(),
                     " instructions, more than the kernel's ", BPF_MAXINSNS));
  }
  return filter;
}

int SeccompFilter::Install() const {
  sock_fprog prog;
  prog.len = static_cast<unsigned short>(program_.size());
  prog.filter = const_cast<sock_filter*>(program_.data());
  if (::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0) return errno;
  return 0;
}

}  // namespace kiln::builder::sandbox
