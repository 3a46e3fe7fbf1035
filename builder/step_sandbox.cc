#include "builder/step_sandbox.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netinet/in.h>

#include <cmath>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "base/file_util.h"
#include "base/id_map.h"
#include "base/status_macros.h"
#include "builder/sandbox/seccomp_profile.h"
#include "builder/sandbox/step_userns.h"

namespace kiln::builder {
namespace {

using Flags = std::map<std::string, std::vector<std::string>>;

constexpr const char* kEntitlements[] = {"network.host", "security.insecure"};

const std::string* LastFlag(const Flags& flags, const char* name) {
  auto it = flags.find(name);
  return it == flags.end() || it->second.empty() ? nullptr : &it->second.back();
}

// The IPv4 address of the interface the host's default route leaves by: what "host-gateway"
// stands for (the host as the step's network reaches it; its loopback stays out of reach).
std::string HostGatewayAddress() {
  auto routes = ReadFile("/proc/net/route", 1 << 20);
  if (!routes.ok()) return "";
  std::string iface;
  for (absl::string_view line : absl::StrSplit(*routes, '\n')) {
    std::vector<absl::string_view> f = absl::StrSplit(line, '\t', absl::SkipWhitespace());
    if (f.size() > 2 && f[1] == "00000000") {
      iface = std::string(absl::StripAsciiWhitespace(f[0]));
      break;
    }
  }
  if (iface.empty()) return "";
  ifaddrs* addrs = nullptr;
  if (::getifaddrs(&addrs) != 0) return "";
  std::string out;
  for (ifaddrs* a = addrs; a != nullptr; a = a->ifa_next) {
    if (a->ifa_addr == nullptr || a->ifa_addr->sa_family != AF_INET || iface != a->ifa_name) {
      continue;
    }
    char text[INET_ADDRSTRLEN];
    ::inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(a->ifa_addr)->sin_addr, text, sizeof text);
    out = text;
    break;
  }
  ::freeifaddrs(addrs);
  return out;
}

std::string FormatBytes(int64_t bytes) {
  if (bytes % (int64_t{1} << 30) == 0) return absl::StrCat(bytes >> 30, " GiB");
  if (bytes % (int64_t{1} << 20) == 0) return absl::StrCat(bytes >> 20, " MiB");
  return absl::StrFormat("%.1f MiB", static_cast<double>(bytes) / (1 << 20));
}

sandbox::Cgroups* ProcessCgroups() {
  static sandbox::Cgroups* cgroups = sandbox::Cgroups::Detect().release();
  return cgroups;
}

absl::StatusOr<std::optional<sandbox::SeccompFilter>> SeccompFromOptions(
    const std::vector<std::string>& opts, const sandbox::CapabilitySet& caps) {
  const sandbox::SeccompProfile* profile = &sandbox::DefaultSeccompProfile();
  sandbox::SeccompProfile custom;
  bool unconfined = false;
  for (const std::string& opt : opts) {
    // Docker takes "key=value" and the older "key:value".
    size_t sep = opt.find_first_of("=:");
    std::string key = opt.substr(0, sep);
    std::string value = sep == std::string::npos ? "" : opt.substr(sep + 1);
    if (key == "no-new-privileges") {
      if (!value.empty() && value != "true") {
        return absl::InvalidArgumentError(
            "--security-opt no-new-privileges: RUN steps always run with no_new_privs");
      }
      continue;
    }
    if (key != "seccomp" || value.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--security-opt ", opt,
                       ": not supported (kiln takes seccomp=unconfined, seccomp=PROFILE.json and "
                       "no-new-privileges)"));
    }
    if (value == "unconfined") {
      unconfined = true;
      continue;
    }
    ASSIGN_OR_RETURN_CTX(std::string text, ReadFile(value, sandbox::kMaxSeccompProfileSize + 1),
                         "--security-opt seccomp=", value);
    ASSIGN_OR_RETURN_CTX(custom, sandbox::ParseSeccompProfile(text),
                         "--security-opt seccomp=", value);
    profile = &custom;
    unconfined = false;
  }
  if (unconfined) return std::optional<sandbox::SeccompFilter>();
  ASSIGN_OR_RETURN_CTX(sandbox::SeccompFilter filter,
                       sandbox::SeccompFilter::Compile(*profile, caps), "the seccomp profile");
  return std::optional<sandbox::SeccompFilter>(std::move(filter));
}

}  // namespace

absl::StatusOr<sandbox::SandboxRlimit> ParseUlimit(absl::string_view text) {
  static const std::pair<const char*, int> kNames[] = {
      {"core", RLIMIT_CORE},         {"cpu", RLIMIT_CPU},
      {"data", RLIMIT_DATA},         {"fsize", RLIMIT_FSIZE},
      {"locks", RLIMIT_LOCKS},       {"memlock", RLIMIT_MEMLOCK},
      {"msgqueue", RLIMIT_MSGQUEUE}, {"nice", RLIMIT_NICE},
      {"nofile", RLIMIT_NOFILE},     {"nproc", RLIMIT_NPROC},
      {"rss", RLIMIT_RSS},           {"rtprio", RLIMIT_RTPRIO},
      {"rttime", RLIMIT_RTTIME},     {"sigpending", RLIMIT_SIGPENDING},
      {"stack", RLIMIT_STACK},
  };
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat("--ulimit ", text, ": ", why));
  };
  std::pair<absl::string_view, absl::string_view> kv =
      absl::StrSplit(text, absl::MaxSplits('=', 1));
  sandbox::SandboxRlimit r;
  r.resource = -1;
  for (const auto& [name, resource] : kNames) {
    if (kv.first == name) r.resource = resource;
  }
  if (r.resource < 0)
    return bad(
        "unknown limit (core, cpu, data, fsize, locks, memlock, "
        "msgqueue, nice, nofile, nproc, rss, rtprio, rttime, "
        "sigpending, stack)");
  auto number = [](absl::string_view v, rlim_t* out) {
    if (v == "unlimited" || v == "-1") {
      *out = RLIM_INFINITY;
      return true;
    }
    uint64_t n;
    if (!absl::SimpleAtoi(v, &n)) return false;
    *out = n;
    return true;
  };
  std::pair<absl::string_view, absl::string_view> limits =
      absl::StrSplit(kv.second, absl::MaxSplits(':', 1));
  if (!number(limits.first, &r.soft)) return bad("want NAME=SOFT[:HARD]");
  r.hard = r.soft;
  if (!limits.second.empty() && !number(limits.second, &r.hard)) {
    return bad("want NAME=SOFT[:HARD]");
  }
  if (r.soft > r.hard) return bad("the soft limit is above the hard one");
  return r;
}

absl::StatusOr<std::string> ParseAddHost(absl::string_view text, absl::string_view gateway) {
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat("--add-host ", text, ": ", why));
  };
  // Docker also takes NAME=IP, which reads IPv6 more plainly.
  size_t sep = text.find('=');
  if (sep == absl::string_view::npos) sep = text.find(':');
  if (sep == absl::string_view::npos || sep == 0) return bad("want NAME:IP");
  absl::string_view name = text.substr(0, sep);
  std::string ip(text.substr(sep + 1));
  if (absl::StartsWith(ip, "[") && absl::EndsWith(ip, "]")) ip = ip.substr(1, ip.size() - 2);
  if (ip == "host-gateway") {
    if (gateway.empty()) return bad("this host has no default route for host-gateway to name");
    ip = std::string(gateway);
  }
  unsigned char buf[16];
  if (::inet_pton(AF_INET, ip.c_str(), buf) != 1 && ::inet_pton(AF_INET6, ip.c_str(), buf) != 1) {
    return bad(absl::StrCat("\"", ip, "\" is not an IP address"));
  }
  for (char c : name) {
    if (!absl::ascii_isalnum(c) && c != '-' && c != '.' && c != '_') {
      return bad(absl::StrCat("\"", name, "\" is not a host name"));
    }
  }
  return absl::StrCat(ip, "\t", name);
}

std::optional<std::string> StepResources::OutOfMemory() const {
  if (cgroup_ == nullptr || !cgroup_->OomKilled()) return std::nullopt;
  const auto& memory = cgroup_->limits().memory_bytes;
  return absl::StrCat("RUN was killed: out of memory (",
                      memory ? absl::StrCat("limit ", FormatBytes(*memory)) : "no limit set", ")");
}

// Long by design: each wall of the sandbox is set up once here, in the order they depend on each
// other.
absl::StatusOr<std::unique_ptr<StepSandboxes>> StepSandboxes::Create(const SandboxOptions& options,
                                                                     const std::string& work_dir) {
  std::unique_ptr<StepSandboxes> s(new StepSandboxes());
  s->options_ = options;
  for (const std::string& e : options.allow) {
    if (std::find(std::begin(kEntitlements), std::end(kEntitlements), e) ==
        std::end(kEntitlements)) {
      return absl::InvalidArgumentError(
          absl::StrCat("--allow ", e, ": unknown entitlement (network.host, security.insecure)"));
    }
  }
  ASSIGN_OR_RETURN(s->capabilities_,
                   sandbox::CapabilitySet::FromFlags(options.cap_add, options.cap_drop));
  ASSIGN_OR_RETURN(s->seccomp_, SeccompFromOptions(options.security_opts, s->capabilities_));
  for (const std::string& u : options.ulimits) {
    ASSIGN_OR_RETURN(sandbox::SandboxRlimit r, ParseUlimit(u));
    s->rlimits_.push_back(r);
  }
  if (options.shm_size) {
    ASSIGN_OR_RETURN(int64_t shm, sandbox::ParseMemorySize(*options.shm_size, "--shm-size"));
    if (shm <= 0) return absl::InvalidArgumentError("--shm-size must be more than 0");
    s->shm_size_ = static_cast<uint64_t>(shm);
  }
  sandbox::ResourceLimits& limits = s->limits_;
  if (options.memory) {
    ASSIGN_OR_RETURN(int64_t m, sandbox::ParseMemorySize(*options.memory, "--memory"));
    if (m < 6 << 20) return absl::InvalidArgumentError("--memory: the minimum is 6m");
    limits.memory_bytes = m;
  }
  if (options.memory_swap) {
    if (!limits.memory_bytes) {
      return absl::InvalidArgumentError("--memory-swap needs --memory (it is memory plus swap)");
    }
    if (*options.memory_swap == "-1") {
      limits.memory_swap_bytes = -1;
    } else {
      ASSIGN_OR_RETURN(int64_t m, sandbox::ParseMemorySize(*options.memory_swap, "--memory-swap"));
      if (m < *limits.memory_bytes) {
        return absl::InvalidArgumentError(
            "--memory-swap is memory plus swap: it must be at least --memory (or -1)");
      }
      limits.memory_swap_bytes = m;
    }
  }
  limits.cpu_shares = options.cpu_shares;
  if (options.cpus) {
    if (!(*options.cpus > 0) || *options.cpus > 4096) {
      return absl::InvalidArgumentError("--cpus wants a number of CPUs above 0, like 1.5");
    }
    limits.cpus = options.cpus;
  }
  if (options.pids_limit) {
    limits.pids_limit = *options.pids_limit <= 0 ? -1 : *options.pids_limit;
  }

  if (InInitialUserNamespace() && !options.userns_host) {
    ASSIGN_OR_RETURN_CTX(s->userns_, sandbox::StepUserNamespace::ForThisHost(),
                         "the user namespace of RUN steps");
  }
  s->cgroups_ = ProcessCgroups();
  if (!s->cgroups_->Available()) {
    s->warnings_.push_back(
        absl::StrCat("RUN steps run without cgroup limits or accounting: ", s->cgroups_->Why()));
    s->cgroups_ = nullptr;
  }

  // The hostname goes into /etc/hosts and sethostname(2): a DNS name of at most 64 bytes.
  const std::string& host = options.hostname;
  if (host.empty() || host.size() > 64 || host.front() == '-' || host.front() == '.' ||
      !std::all_of(host.begin(), host.end(), [](char c) {
        return absl::ascii_isalnum(c) || c == '-' || c == '.' || c == '_';
      })) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid hostname \"", absl::CHexEscape(host.substr(0, 80)),
                     "\": want letters, digits, '-', '.' and '_', at most 64"));
  }
  std::string gateway;
  std::string extra;
  for (const std::string& h : options.add_hosts) {
    if (gateway.empty()) gateway = HostGatewayAddress();
    ASSIGN_OR_RETURN(std::string line, ParseAddHost(h, gateway));
    absl::StrAppend(&extra, line, "\n");
  }
  s->private_hosts_ = work_dir + "/hosts";
  RETURN_IF_ERROR(WriteFileInPlace(
      s->private_hosts_, absl::StrCat("127.0.0.1\tlocalhost ", host,
                                      "\n::1\tlocalhost ip6-localhost ip6-loopback\n", extra)));
  s->host_hosts_ = "/etc/hosts";
  if (!extra.empty()) {
    s->host_hosts_ = work_dir + "/hosts.host";
    std::string host = ReadFile("/etc/hosts", 1 << 20).value_or("");
    if (!host.empty() && host.back() != '\n') host += "\n";
    RETURN_IF_ERROR(WriteFileInPlace(s->host_hosts_, host + extra));
  }
  s->private_resolv_conf_ = work_dir + "/resolv.conf";
  RETURN_IF_ERROR(WriteFileInPlace(
      s->private_resolv_conf_,
      sandbox::PrivateResolvConf(ReadFile("/etc/resolv.conf", 1 << 20).value_or(""))));
  return s;
}

bool StepSandboxes::Allowed(absl::string_view entitlement) const {
  return std::find(options_.allow.begin(), options_.allow.end(), entitlement) !=
         options_.allow.end();
}

absl::StatusOr<StepNetwork> StepSandboxes::NetworkFor(const Flags& flags) const {
  const std::string* value = LastFlag(flags, "network");
  if (value == nullptr || *value == "default") return options_.network;
  if (*value == "none") return StepNetwork::kNone;
  if (*value == "host") {
    if (options_.network == StepNetwork::kHost || Allowed("network.host"))
      return StepNetwork::kHost;
    return absl::PermissionDeniedError(
        "--network=host: entitlement network.host is not allowed (build with --allow "
        "network.host)");
  }
  return absl::InvalidArgumentError(
      absl::StrCat("invalid network mode \"", *value, "\" (want default, none or host)"));
}

absl::StatusOr<bool> StepSandboxes::InsecureFor(const Flags& flags) const {
  const std::string* value = LastFlag(flags, "security");
  if (value == nullptr || *value == "sandbox") return false;
  if (*value == "insecure") {
    if (Allowed("security.insecure")) return true;
    return absl::PermissionDeniedError(
        "--security=insecure: entitlement security.insecure is not allowed (build with --allow "
        "security.insecure)");
  }
  return absl::InvalidArgumentError(
      absl::StrCat("--security=", *value, ": want sandbox or insecure"));
}

absl::StatusOr<std::vector<std::string>> StepSandboxes::EmulationFor(
    const oci::Platform& platform) {
  std::lock_guard<std::mutex> lock(emulation_mu_);
  const std::string key = platform.Normalized().str();
  auto it = emulation_.find(key);
  if (it == emulation_.end()) {
    // A private binfmt_misc needs a user namespace that is not the host's.
    const bool private_allowed = userns_ != nullptr || !InInitialUserNamespace();
    it = emulation_.emplace(key, sandbox::EmulationFor(platform, private_allowed)).first;
  }
  return it->second;
}

absl::StatusOr<std::unique_ptr<StepResources>> StepSandboxes::Prepare(const Flags& flags,
                                                                      sandbox::SandboxSpec* spec) {
  ASSIGN_OR_RETURN(StepNetwork network, NetworkFor(flags));
  ASSIGN_OR_RETURN(bool insecure, InsecureFor(flags));
  auto resources = std::unique_ptr<StepResources>(new StepResources());
  spec->userns = userns_;
  spec->hostname = options_.hostname;
  spec->capabilities = insecure ? sandbox::CapabilitySet::All() : capabilities_;
  spec->seccomp = insecure || !seccomp_ ? nullptr : &*seccomp_;
  spec->mask_paths = !insecure;
  spec->rlimits = rlimits_;
  spec->shm_size = shm_size_;
  switch (network) {
    case StepNetwork::kHost:
      spec->network = sandbox::SandboxSpec::Network::kHost;
      spec->resolv_conf = "/etc/resolv.conf";
      spec->hosts = host_hosts_;
      break;
    case StepNetwork::kNone:
      spec->network = sandbox::SandboxSpec::Network::kNone;
      spec->resolv_conf = "/etc/resolv.conf";
      spec->hosts = private_hosts_;
      break;
    case StepNetwork::kDefault: {
      sandbox::NetworkPool* pool;
      {
        std::lock_guard<std::mutex> lock(pool_mu_);
        if (pool_ == nullptr) {
          pool_ = std::make_unique<sandbox::NetworkPool>(userns_ ? userns_->fd() : -1);
        }
        pool = pool_.get();
      }
      ASSIGN_OR_RETURN(sandbox::NetworkPool::Lease lease, pool->Acquire());
      resources->lease_.emplace(std::move(lease));
      spec->network = sandbox::SandboxSpec::Network::kPrivate;
      spec->netns_fd = resources->lease_->netns_fd();
      spec->resolv_conf = private_resolv_conf_;
      spec->hosts = private_hosts_;
      break;
    }
  }
  if (cgroups_ != nullptr) {
    ASSIGN_OR_RETURN(resources->cgroup_,
                     cgroups_->CreateStep(limits_, sandbox::DefaultDeviceRules()));
    spec->cgroup = resources->cgroup_.get();
  }
  return resources;
}

}  // namespace kiln::builder
