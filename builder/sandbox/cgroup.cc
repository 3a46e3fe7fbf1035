#include "builder/sandbox/cgroup.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "base/file_util.h"
#include "base/id_map.h"
#include "base/status_macros.h"

namespace kiln::builder::sandbox {
namespace {

constexpr const char* kV1Controllers[] = {"memory", "pids", "cpu", "devices"};
constexpr const char* kV2Controllers[] = {"memory", "pids", "cpu"};

absl::Status WriteControl(const std::string& dir, const char* file, absl::string_view value) {
  return WriteFileInPlace(absl::StrCat(dir, "/", file), value, /*create=*/false);
}

bool HasControl(const std::string& dir, const char* file) {
  return ::access(absl::StrCat(dir, "/", file).c_str(), F_OK) == 0;
}

// "oom_kill 3" in memory.events (v2) or memory.oom_control (v1).
int64_t ReadCounter(const std::string& path, absl::string_view key) {
  auto text = ReadFile(path, 1 << 16);
  if (!text.ok()) return 0;
  for (absl::string_view line : absl::StrSplit(*text, '\n')) {
    std::pair<absl::string_view, absl::string_view> kv = absl::StrSplit(line, ' ');
    int64_t v;
    if (kv.first == key && absl::SimpleAtoi(kv.second, &v)) return v;
  }
  return 0;
}

std::vector<pid_t> Procs(const std::string& dir) {
  std::vector<pid_t> pids;
  auto text = ReadFile(dir + "/cgroup.procs", 16 << 20);
  if (!text.ok()) return pids;
  for (absl::string_view line : absl::StrSplit(*text, '\n', absl::SkipEmpty())) {
    pid_t pid;
    if (absl::SimpleAtoi(line, &pid)) pids.push_back(pid);
  }
  return pids;
}

// Removes step cgroups ("kiln-PID-N") left by kiln processes that no longer run.
void RemoveStale(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return;
  std::vector<std::string> stale;
  while (dirent* e = ::readdir(d)) {
    absl::string_view name = e->d_name;
    if (!absl::ConsumePrefix(&name, "kiln-")) continue;
    std::vector<absl::string_view> parts = absl::StrSplit(name, '-');
    pid_t pid;
    if (parts.size() != 2 || !absl::SimpleAtoi(parts[0], &pid)) continue;
    if (::kill(pid, 0) == 0 || errno == EPERM) continue;  // its kiln still runs
    stale.push_back(absl::StrCat(dir, "/", e->d_name));
  }
  ::closedir(d);
  for (const std::string& path : stale) ::rmdir(path.c_str());
}

struct Mount {
  std::string root, point, type, options;
};

std::vector<Mount> CgroupMounts(const std::string& mountinfo) {
  std::vector<Mount> mounts;
  for (absl::string_view line : absl::StrSplit(mountinfo, '\n', absl::SkipEmpty())) {
    std::vector<std::string> f = absl::StrSplit(line, ' ');
    size_t dash = 0;
    while (dash < f.size() && f[dash] != "-") ++dash;
    if (f.size() < 5 || dash + 3 >= f.size()) continue;
    const std::string& type = f[dash + 1];
    if (type != "cgroup" && type != "cgroup2") continue;
    mounts.push_back({f[3], f[4], type, f[dash + 3]});
  }
  return mounts;
}

// The directory of the cgroup `path` (as /proc/self/cgroup names it) under a mount of its
// hierarchy whose root is `root`.
std::string CgroupDir(const Mount& m, const std::string& path) {
  absl::string_view rel = path;
  if (m.root != "/" && absl::StartsWith(rel, m.root)) rel.remove_prefix(m.root.size());
  std::string dir = m.point;
  if (!rel.empty() && rel != "/") absl::StrAppend(&dir, rel[0] == '/' ? "" : "/", rel);
  return dir;
}

}  // namespace

absl::StatusOr<int64_t> ParseMemorySize(absl::string_view text, absl::string_view flag) {
  std::string s = absl::AsciiStrToLower(absl::StripAsciiWhitespace(text));
  absl::string_view v = s;
  absl::ConsumeSuffix(&v, "b");
  absl::ConsumeSuffix(&v, "i");
  double multiplier = 1;
  if (!v.empty()) {
    switch (v.back()) {
      case 'k':
        multiplier = 1024.0;
        break;
      case 'm':
        multiplier = 1024.0 * 1024;
        break;
      case 'g':
        multiplier = 1024.0 * 1024 * 1024;
        break;
      case 't':
        multiplier = 1024.0 * 1024 * 1024 * 1024;
        break;
      case 'p':
        multiplier = 1024.0 * 1024 * 1024 * 1024 * 1024;
        break;
    }
    if (multiplier != 1) v.remove_suffix(1);
  }
  double number;
  if (v.empty() || !absl::SimpleAtod(v, &number) || !(number >= 0) || number * multiplier > 9e18) {
    return absl::InvalidArgumentError(
        absl::StrCat(flag, ": \"", text, "\" is not a size (like 512m or 2g)"));
  }
  return static_cast<int64_t>(number * multiplier);
}

// Long by design: reads /proc/self/cgroup and mountinfo once for both cgroup versions and every
// controller.
std::unique_ptr<Cgroups> Cgroups::Detect(const std::string& proc_dir) {
  std::unique_ptr<Cgroups> c(new Cgroups());
  auto cgroup_text = ReadFile(proc_dir + "/cgroup", 1 << 20);
  auto mountinfo = ReadFile(proc_dir + "/mountinfo", 16 << 20);
  if (!cgroup_text.ok() || !mountinfo.ok()) {
    c->why_ = "cannot read /proc/self/cgroup or mountinfo";
    return c;
  }
  std::map<std::string, std::string> v1_paths;  // controller → path
  std::string unified_path;
  bool has_unified = false;
  for (absl::string_view line : absl::StrSplit(*cgroup_text, '\n', absl::SkipEmpty())) {
    std::vector<std::string> f = absl::StrSplit(line, absl::MaxSplits(':', 2));
    if (f.size() != 3) continue;
    if (f[0] == "0" && f[1].empty()) {
      unified_path = f[2];
      has_unified = true;
      continue;
    }
    for (absl::string_view ctrl : absl::StrSplit(f[1], ',')) v1_paths[std::string(ctrl)] = f[2];
  }
  std::vector<Mount> mounts = CgroupMounts(*mountinfo);
  for (const char* ctrl : kV1Controllers) {
    auto path = v1_paths.find(ctrl);
    if (path == v1_paths.end()) continue;
    for (const Mount& m : mounts) {
      if (m.type != "cgroup") continue;
      std::vector<absl::string_view> opts = absl::StrSplit(m.options, ',');
      if (std::find(opts.begin(), opts.end(), ctrl) == opts.end()) continue;
      c->v1_dirs_[ctrl] = CgroupDir(m, path->second);
      break;
    }
  }
  if (!c->v1_dirs_.empty()) {
    // v1 or hybrid: each controller in its own hierarchy.
    if (!InInitialUserNamespace()) {
      c->v1_dirs_.clear();
      c->why_ = "cgroup v1 hierarchies are not delegated to unprivileged users";
      return c;
    }
    for (auto it = c->v1_dirs_.begin(); it != c->v1_dirs_.end();) {
      if (::access(it->second.c_str(), W_OK) != 0) {
        it = c->v1_dirs_.erase(it);
      } else {
        RemoveStale(it->second);
        ++it;
      }
    }
    c->available_ = !c->v1_dirs_.empty();
    if (!c->available_) c->why_ = "no writable cgroup v1 controller";
    return c;
  }
  if (!has_unified) {
    c->why_ = "no cgroup hierarchy is mounted";
    return c;
  }
  for (const Mount& m : mounts) {
    if (m.type != "cgroup2") continue;
    c->unified_ = true;
    c->unified_mount_ = m.point;
    c->unified_base_ = CgroupDir(m, unified_path);
    if (absl::Status s = c->PrepareUnifiedBase(); !s.ok()) {
      c->why_ = std::string(s.message());
      return c;
    }
    c->available_ = true;
    return c;
  }
  c->why_ = "the cgroup v2 hierarchy is not mounted";
  return c;
}

std::unique_ptr<Cgroups> Cgroups::ForUnified(const std::string& unified_root,
                                             const std::string& own_path) {
  std::unique_ptr<Cgroups> c(new Cgroups());
  c->unified_ = true;
  c->unified_mount_ = unified_root;
  c->unified_base_ = unified_root + (own_path == "/" ? "" : own_path);
  if (absl::Status s = c->PrepareUnifiedBase(); !s.ok()) {
    c->why_ = std::string(s.message());
  } else {
    c->available_ = true;
  }
  return c;
}

// Finds a directory of the v2 hierarchy where step cgroups may have the memory, pids and cpu
// controllers: a non-root cgroup that holds processes cannot enable controllers for its
// children ("no internal processes"), so kiln uses its own cgroup when that works and, as
// root, /kiln at the top of the hierarchy otherwise.
absl::Status Cgroups::PrepareUnifiedBase() {
  const std::string own = unified_base_;
  auto enable = [this](const std::string& dir) -> absl::Status {
    auto available = ReadFile(dir + "/cgroup.controllers", 1 << 16);
    if (!available.ok()) return available.status();
    std::vector<std::string> have =
        absl::StrSplit(absl::StripAsciiWhitespace(*available), ' ', absl::SkipEmpty());
    std::vector<std::string> want;
    for (const char* ctrl : kV2Controllers) {
      if (std::find(have.begin(), have.end(), ctrl) != have.end()) want.push_back(ctrl);
    }
    if (want.empty()) {
      unified_controllers_.clear();
      return absl::OkStatus();
    }
    RETURN_IF_ERROR(
        WriteControl(dir, "cgroup.subtree_control", absl::StrCat("+", absl::StrJoin(want, " +"))));
    unified_controllers_ = want;
    return absl::OkStatus();
  };
  const bool root = InInitialUserNamespace();
  bpf_devices_ = root;
  if (::access(own.c_str(), W_OK) != 0) {
    if (!root) return absl::PermissionDeniedError("kiln's cgroup v2 sub-tree is not delegated");
  } else if (enable(own).ok()) {
    RemoveStale(own);
    return absl::OkStatus();
  }
  if (!root) {
    return absl::FailedPreconditionError(
        "kiln's cgroup holds other processes, so its controllers cannot be enabled for steps");
  }
  // The top of the hierarchy (which may hold processes) and /kiln below it.
  const std::string& top = unified_mount_;
  RETURN_IF_ERROR_CTX(enable(top), "enable cgroup controllers");
  std::string base = top + "/kiln";
  if (::mkdir(base.c_str(), 0755) != 0 && errno != EEXIST) return ErrnoError("mkdir " + base);
  RETURN_IF_ERROR_CTX(enable(base), "enable cgroup controllers");
  unified_base_ = base;
  RemoveStale(base);
  return absl::OkStatus();
}

std::string Cgroups::Describe() const {
  if (!available_) return absl::StrCat("no cgroups (", why_, ")");
  if (unified_) {
    return absl::StrCat(
        "cgroup v2 at ", unified_base_, " (",
        unified_controllers_.empty() ? "no controllers" : absl::StrJoin(unified_controllers_, ", "),
        bpf_devices_ ? ", devices" : "", ")");
  }
  std::vector<std::string> names;
  for (const auto& [ctrl, dir] : v1_dirs_) names.push_back(ctrl);
  return absl::StrCat("cgroup v1 (", absl::StrJoin(names, ", "), ")");
}

absl::StatusOr<std::unique_ptr<StepCgroup>> Cgroups::CreateStep(
    const ResourceLimits& limits, const std::vector<DeviceRule>& devices) {
  std::unique_ptr<StepCgroup> step(new StepCgroup());
  step->unified_ = unified_;
  step->limits_ = limits;
  const std::string name = absl::StrCat("kiln-", ::getpid(), "-", next_++);
  auto make = [&](const std::string& parent) -> absl::StatusOr<std::string> {
    std::string dir = absl::StrCat(parent, "/", name);
    if (::mkdir(dir.c_str(), 0755) != 0) return ErrnoError("create cgroup " + dir);
    step->dirs_.push_back(dir);
    UniqueFd procs(::open((dir + "/cgroup.procs").c_str(), O_WRONLY | O_CLOEXEC));
    if (!procs.valid()) return ErrnoError("open " + dir + "/cgroup.procs");
    step->procs_fds_.push_back(procs.get());
    step->owned_fds_.push_back(std::move(procs));
    return dir;
  };
  auto apply = [&](const std::string& dir, const std::string& controller) -> absl::Status {
    for (const ControlSetting& c : LimitSettings(limits, unified_, controller)) {
      if (!HasControl(dir, c.file.c_str())) {
        if (c.optional) continue;
        return absl::FailedPreconditionError(absl::StrCat(
            c.flag, ": ", c.file, " is missing in ", dir, ": the controller is not available to ",
            "kiln's cgroups (", Describe(), ")"));
      }
      RETURN_IF_ERROR(WriteControl(dir, c.file.c_str(), c.value));
    }
    return absl::OkStatus();
  };
  if (unified_) {
    ASSIGN_OR_RETURN(std::string dir, make(unified_base_));
    RETURN_IF_ERROR(apply(dir, ""));
    step->memory_dir_ = dir;
    if (bpf_devices_) {
      UniqueFd dir_fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
      if (!dir_fd.valid()) return ErrnoError("open " + dir);
      ASSIGN_OR_RETURN(step->device_program_, LoadDeviceProgram(devices));
      RETURN_IF_ERROR(AttachDeviceProgram(dir_fd.get(), step->device_program_.get()));
    }
    return step;
  }
  // A limit whose controller is not mounted at all cannot be honoured either.
  for (const ControlSetting& c : LimitSettings(limits, /*unified=*/false, "")) {
    if (!c.optional && !v1_dirs_.count(c.controller)) {
      return absl::FailedPreconditionError(absl::StrCat(
          c.flag, ": the ", c.controller, " controller is not available (", Describe(), ")"));
    }
  }
  for (const auto& [ctrl, parent] : v1_dirs_) {
    // Each hierarchy a process joins costs a migration (which waits for an RCU grace
    // period): the cpu controller is joined only when there are CPU limits to apply.
    if (ctrl == "cpu" && !limits.cpu_shares && !limits.cpus) continue;
    ASSIGN_OR_RETURN(std::string dir, make(parent));
    RETURN_IF_ERROR(apply(dir, ctrl));
    if (ctrl == "memory") step->memory_dir_ = dir;
    if (ctrl == "devices") {
      RETURN_IF_ERROR(WriteControl(dir, "devices.deny", "a"));
      for (const DeviceRule& rule : devices) {
        RETURN_IF_ERROR(WriteControl(dir, "devices.allow", rule.ToString()));
      }
    }
  }
  return step;
}

std::vector<ControlSetting> LimitSettings(const ResourceLimits& limits, bool unified,
                                          const std::string& controller) {
  std::vector<ControlSetting> out;
  auto add = [&](const char* ctrl, const char* file, std::string value, const char* flag,
                 bool optional) {
    if (!controller.empty() && controller != ctrl) return;
    out.push_back({ctrl, file, std::move(value), flag, optional});
  };
  if (limits.memory_bytes) {
    // Docker's rule: --memory alone allows as much swap again; -1 is unlimited swap.
    int64_t memory = *limits.memory_bytes;
    int64_t swap = limits.memory_swap_bytes.value_or(memory * 2);
    if (unified) {
      add("memory", "memory.max", absl::StrCat(memory), "--memory", false);
      add("memory", "memory.swap.max",
          swap < 0 ? "max" : absl::StrCat(std::max<int64_t>(0, swap - memory)), "--memory-swap",
          true);
    } else {
      add("memory", "memory.limit_in_bytes", absl::StrCat(memory), "--memory", false);
      add("memory", "memory.memsw.limit_in_bytes", absl::StrCat(swap), "--memory-swap", true);
    }
  }
  add("pids", "pids.max", limits.pids_limit < 0 ? "max" : absl::StrCat(limits.pids_limit),
      "--pids-limit", true);
  if (limits.cpu_shares) {
    if (unified) {
      // The conversion runc and crun use from v1 shares (2..262144) to weight (1..10000).
      uint64_t shares = std::clamp<uint64_t>(*limits.cpu_shares, 2, 262144);
      add("cpu", "cpu.weight", absl::StrCat(1 + ((shares - 2) * 9999) / 262142), "--cpu-shares",
          false);
    } else {
      add("cpu", "cpu.shares", absl::StrCat(*limits.cpu_shares), "--cpu-shares", false);
    }
  }
  if (limits.cpus) {
    int64_t quota = std::max<int64_t>(1000, std::llround(*limits.cpus * 100000));
    if (unified) {
      add("cpu", "cpu.max", absl::StrCat(quota, " 100000"), "--cpus", false);
    } else {
      add("cpu", "cpu.cfs_period_us", "100000", "--cpus", false);
      add("cpu", "cpu.cfs_quota_us", absl::StrCat(quota), "--cpus", false);
    }
  }
  return out;
}

absl::Status StepCgroup::Join(pid_t pid) const {
  std::string text = absl::StrCat(pid);
  for (size_t i = 0; i < procs_fds_.size(); ++i) {
    if (::write(procs_fds_[i], text.data(), text.size()) != static_cast<ssize_t>(text.size())) {
      return ErrnoError(absl::StrCat("move the step into ", dirs_[i]));
    }
  }
  return absl::OkStatus();
}

bool StepCgroup::OomKilled() const {
  if (memory_dir_.empty()) return false;
  return ReadCounter(memory_dir_ + (unified_ ? "/memory.events" : "/memory.oom_control"),
                     "oom_kill") > 0;
}

void StepCgroup::KillAll() {
  for (const std::string& dir : dirs_) {
    if (unified_ && HasControl(dir, "cgroup.kill")) (void)WriteControl(dir, "cgroup.kill", "1");
  }
  for (int round = 0; round < 100; ++round) {
    bool any = false;
    for (const std::string& dir : dirs_) {
      for (pid_t pid : Procs(dir)) {
        ::kill(pid, SIGKILL);
        any = true;
      }
    }
    if (!any) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

StepCgroup::~StepCgroup() {
  KillAll();
  for (const std::string& dir : dirs_) {
    // A killed process leaves its cgroup a moment after it is reaped.
    for (int i = 0; i < 500 && ::rmdir(dir.c_str()) != 0 && errno == EBUSY; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  }
}

}  // namespace kiln::builder::sandbox
