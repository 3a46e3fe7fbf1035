#include "builder/sandbox/emulation.h"

#include <dirent.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <map>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "base/file_util.h"
#include "base/status_macros.h"

namespace kiln::builder::sandbox {
namespace {

constexpr size_t kMaxEntrySize = 4096;  // a binfmt.d file or a binfmt_misc entry
constexpr char kBinfmtDir[] = "/proc/sys/fs/binfmt_misc";
constexpr char kBinfmtConfDir[] = "/usr/lib/binfmt.d";

// The host's handlers for `arch`, if any has the F flag and is enabled.
bool HostHandles(absl::string_view arch) {
  DIR* dir = ::opendir(kBinfmtDir);
  if (dir == nullptr) return false;
  bool found = false;
  while (struct dirent* e = ::readdir(dir)) {
    std::string name = e->d_name;
    if (name == "." || name == ".." || name == "register" || name == "status") continue;
    absl::StatusOr<std::string> text = ReadFile(absl::StrCat(kBinfmtDir, "/", name), kMaxEntrySize);
    if (text.ok() && HandlesArch(*text, arch)) {
      found = true;
      break;
    }
  }
  ::closedir(dir);
  return found;
}

std::string WhatToInstall(absl::string_view arch) {
  return absl::StrCat("install Debian's qemu-user-static (it provides qemu-", arch,
                      "-static and its binfmt.d handler)");
}

}  // namespace

bool RunsNatively(const oci::Platform& platform, const oci::Platform& host) {
  oci::Platform p = platform.Normalized(), h = host.Normalized();
  if (p.architecture == h.architecture) return true;
  return h.architecture == "amd64" && p.architecture == "386";
}

absl::StatusOr<std::string> QemuArch(const oci::Platform& platform) {
  static const auto* names = new std::map<std::string, std::string>{
      {"amd64", "x86_64"},        {"386", "i386"},
      {"arm64", "aarch64"},       {"arm", "arm"},
      {"ppc64le", "ppc64le"},     {"ppc64", "ppc64"},
      {"s390x", "s390x"},         {"riscv64", "riscv64"},
      {"mips64le", "mips64el"},   {"mips64", "mips64"},
      {"mipsle", "mipsel"},       {"mips", "mips"},
      {"loong64", "loongarch64"},
  };
  oci::Platform p = platform.Normalized();
  if (p.os != "linux") {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot run steps for ", p.str(), ": only linux platforms run here"));
  }
  auto it = names->find(p.architecture);
  if (it == names->end()) {
    return absl::InvalidArgumentError(
        absl::StrCat("no emulator is known for ", p.str(), "'s architecture"));
  }
  return it->second;
}

absl::StatusOr<std::string> PrivateRegistration(absl::string_view conf_line,
                                                absl::string_view arch) {
  absl::string_view line = absl::StripAsciiWhitespace(conf_line);
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat("binfmt handler for ", arch, ": ", why));
  };
  if (line.size() < 2 || line.size() > 1024) return bad("not a registration line");
  const char delim = line[0];
  std::vector<std::string> fields = absl::StrSplit(line.substr(1), delim);
  // name, type, offset, magic, mask, interpreter, flags
  if (fields.size() != 7) return bad("want :name:type:offset:magic:mask:interpreter:flags");
  if (fields[1] != "M") return bad("not a magic-number handler");
  if (fields[5].empty() || fields[5][0] != '/') return bad("the interpreter is not a path");
  if (fields[6].find('F') == std::string::npos) fields[6] += "F";
  fields[0] = absl::StrCat("kiln-", arch);
  std::string out(1, delim);
  absl::StrAppend(&out, absl::StrJoin(fields, std::string(1, delim)));
  return out;
}

bool HandlesArch(absl::string_view entry, absl::string_view arch) {
  std::vector<absl::string_view> lines = absl::StrSplit(entry, '\n');
  if (lines.empty() || lines[0] != "enabled") return false;
  bool emulator = false, fixed = false;
  for (absl::string_view l : lines) {
    if (absl::ConsumePrefix(&l, "interpreter ")) {
      emulator = absl::StrContains(l, absl::StrCat("qemu-", arch)) ||
                 absl::StrContains(l, absl::StrCat("/", arch, "-binfmt"));
    } else if (absl::ConsumePrefix(&l, "flags: ")) {
      fixed = absl::StrContains(l, "F");
    }
  }
  return emulator && fixed;
}

bool KernelHasPrivateBinfmt(absl::string_view release) {
  std::vector<absl::string_view> parts = absl::StrSplit(release, absl::MaxSplits('.', 2));
  int major = 0, minor = 0;
  if (parts.size() < 2 || !absl::SimpleAtoi(parts[0], &major)) return false;
  absl::string_view m = parts[1];
  size_t digits = 0;
  while (digits < m.size() && absl::ascii_isdigit(m[digits])) ++digits;
  if (!absl::SimpleAtoi(m.substr(0, digits), &minor)) return false;
  return major > 6 || (major == 6 && minor >= 7);
}

absl::StatusOr<std::vector<std::string>> EmulationFor(const oci::Platform& platform,
                                                      bool private_allowed) {
  if (RunsNatively(platform, oci::Platform::Host())) return std::vector<std::string>{};
  ASSIGN_OR_RETURN(std::string arch, QemuArch(platform));
  struct utsname u;
  const std::string release = ::uname(&u) == 0 ? u.release : "";
  const std::string why =
      absl::StrCat("RUN for ", platform.Normalized().str(), " runs under QEMU emulation: ");
  if (private_allowed && KernelHasPrivateBinfmt(release)) {
    const std::string conf = absl::StrCat(kBinfmtConfDir, "/qemu-", arch, ".conf");
    absl::StatusOr<std::string> text = ReadFile(conf, kMaxEntrySize);
    if (!text.ok()) return absl::FailedPreconditionError(absl::StrCat(why, WhatToInstall(arch)));
    for (absl::string_view line : absl::StrSplit(*text, '\n')) {
      line = absl::StripAsciiWhitespace(line);
      if (line.empty() || line[0] == '#' || line[0] == ';') continue;
      ASSIGN_OR_RETURN_CTX(std::string reg, PrivateRegistration(line, arch), conf);
      std::vector<std::string> fields = absl::StrSplit(reg.substr(1), reg[0]);
      if (::access(fields[5].c_str(), X_OK) != 0) {
        return absl::FailedPreconditionError(
            absl::StrCat(why, fields[5], " is missing; ", WhatToInstall(arch)));
      }
      return std::vector<std::string>{reg};
    }
    return absl::FailedPreconditionError(absl::StrCat(why, conf, " has no handler"));
  }
  if (HostHandles(arch)) return std::vector<std::string>{};
  return absl::FailedPreconditionError(absl::StrCat(
      why,
      private_allowed
          ? absl::StrCat("this kernel (", release,
                         ") gives no user namespace a binfmt_misc of its own (Linux 6.7+ does)")
          : "with --userns=host steps run in the host's user namespace, whose binfmt_misc kiln "
            "does not change",
      ", and the host has no handler for ", arch,
      " registered with the F flag; register one (Debian's qemu-user-static with "
      "binfmt-support does), or build on Linux 6.7+ without --userns=host"));
}

}  // namespace kiln::builder::sandbox
