#include "builder/sandbox/capabilities.h"

#include <linux/capability.h>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"

namespace kiln::builder::sandbox {
namespace {

// Indexed by capability number (include/uapi/linux/capability.h).
constexpr const char* kNames[kLastCapability + 1] = {
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "KILL",
    "SETGID",
    "SETUID",
    "SETPCAP",
    "LINUX_IMMUTABLE",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_ADMIN",
    "NET_RAW",
    "IPC_LOCK",
    "IPC_OWNER",
    "SYS_MODULE",
    "SYS_RAWIO",
    "SYS_CHROOT",
    "SYS_PTRACE",
    "SYS_PACCT",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_NICE",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "MKNOD",
    "LEASE",
    "AUDIT_WRITE",
    "AUDIT_CONTROL",
    "SETFCAP",
    "MAC_OVERRIDE",
    "MAC_ADMIN",
    "SYSLOG",
    "WAKE_ALARM",
    "BLOCK_SUSPEND",
    "AUDIT_READ",
    "PERFMON",
    "BPF",
    "CHECKPOINT_RESTORE",
};

constexpr int kDefault[] = {
    CAP_CHOWN,   CAP_DAC_OVERRIDE, CAP_FSETID,           CAP_FOWNER,
    CAP_MKNOD,   CAP_NET_RAW,      CAP_SETGID,           CAP_SETUID,
    CAP_SETFCAP, CAP_SETPCAP,      CAP_NET_BIND_SERVICE, CAP_SYS_CHROOT,
    CAP_KILL,    CAP_AUDIT_WRITE,
};

absl::Status Apply(const std::vector<std::string>& names, bool add, CapabilitySet* set) {
  for (const std::string& name : names) {
    if (absl::EqualsIgnoreCase(name, "ALL")) {
      *set = add ? CapabilitySet::All() : CapabilitySet();
      continue;
    }
    int cap = CapabilityFromName(name);
    if (cap < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(add ? "--cap-add" : "--cap-drop", ": unknown capability \"", name, "\""));
    }
    add ? set->Add(cap) : set->Remove(cap);
  }
  return absl::OkStatus();
}

}  // namespace

CapabilitySet CapabilitySet::Default() {
  CapabilitySet set;
  for (int cap : kDefault) set.Add(cap);
  return set;
}

CapabilitySet CapabilitySet::All() {
  CapabilitySet set;
  for (int cap = 0; cap <= kLastCapability; ++cap) set.Add(cap);
  return set;
}

absl::StatusOr<CapabilitySet> CapabilitySet::FromFlags(const std::vector<std::string>& add,
                                                       const std::vector<std::string>& drop) {
  CapabilitySet set = Default();
  if (absl::Status s = Apply(add, /*add=*/true, &set); !s.ok()) return s;
  if (absl::Status s = Apply(drop, /*add=*/false, &set); !s.ok()) return s;
  return set;
}

std::string CapabilitySet::ToString() const {
  std::vector<std::string> names;
  for (int cap = 0; cap <= kLastCapability; ++cap) {
    if (Has(cap)) names.push_back(CapabilityName(cap));
  }
  return absl::StrJoin(names, ",");
}

int CapabilityFromName(absl::string_view name) {
  std::string upper = absl::AsciiStrToUpper(name);
  absl::string_view bare = upper;
  absl::ConsumePrefix(&bare, "CAP_");
  for (int cap = 0; cap <= kLastCapability; ++cap) {
    if (bare == kNames[cap]) return cap;
  }
  return -1;
}

std::string CapabilityName(int cap) {
  if (cap < 0 || cap > kLastCapability) return "";
  return absl::StrCat("CAP_", kNames[cap]);
}

}  // namespace kiln::builder::sandbox
