#include "base/rootless.h"

#include <fcntl.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "base/file_util.h"
#include "base/spawn_attr.h"
#include "base/status_macros.h"
#include "base/unique_fd.h"

extern char** environ;

namespace kiln {
namespace {

constexpr int kMaxRanges = 300;  // the kernel takes at most 340 lines per map

volatile sig_atomic_t child_pid = 0;

void ForwardSignal(int sig) {
  if (child_pid > 0) ::kill(child_pid, sig);
}

absl::Status ReadAllBytes(int fd, void* buf, size_t size) {
  char* p = static_cast<char*>(buf);
  while (size > 0) {
    ssize_t n = ::read(fd, p, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return absl::UnavailableError("the other side of the namespace setup went away");
    p += n;
    size -= n;
  }
  return absl::OkStatus();
}

std::string FindHelper(const char* name) {
  const char* path = std::getenv("PATH");
  std::string dirs = path != nullptr ? path : "/usr/local/bin:/usr/bin:/bin";
  for (absl::string_view dir : absl::StrSplit(dirs, ':', absl::SkipEmpty())) {
    std::string candidate = absl::StrCat(dir, "/", name);
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  for (const char* dir : {"/usr/bin", "/usr/sbin", "/bin", "/sbin"}) {
    std::string candidate = absl::StrCat(dir, "/", name);
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "";
}

// Runs newuidmap/newgidmap; its stderr goes to ours, so its own message reaches the user.
absl::Status RunHelper(const std::string& helper, pid_t pid, const std::vector<std::string>& map) {
  std::vector<std::string> args = {helper, absl::StrCat(pid)};
  args.insert(args.end(), map.begin(), map.end());
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t helper_pid;
  int rc =
      ::posix_spawn(&helper_pid, helper.c_str(), nullptr, SpawnAttr().get(), argv.data(), environ);
  if (rc != 0) return ErrnoError(absl::StrCat("run ", helper), rc);
  int status = 0;
  while (::waitpid(helper_pid, &status, 0) < 0) {
    if (errno != EINTR) return ErrnoError(absl::StrCat("wait for ", helper));
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return absl::PermissionDeniedError(
        absl::StrCat(helper, " ", absl::StrJoin(map, " "), " failed"));
  }
  return absl::OkStatus();
}

absl::Status WriteProcFile(pid_t pid, const char* name, absl::string_view text) {
  return WriteFileInPlace(absl::StrCat("/proc/", pid, "/", name), text, /*create=*/false);
}

struct Plan {
  std::vector<SubordinateRange> uids, gids;
  std::string newuidmap, newgidmap;
  bool subordinate() const {
    return !uids.empty() && !gids.empty() && !newuidmap.empty() && !newgidmap.empty();
  }
};

Plan MakePlan(uid_t uid) {
  Plan plan;
  std::string user;
  struct passwd pw, *found = nullptr;
  char buf[4096];
  if (::getpwuid_r(uid, &pw, buf, sizeof buf, &found) == 0 && found != nullptr) {
    user = found->pw_name;
  }
  auto subuid = ReadFile("/etc/subuid", 1 << 20);
  auto subgid = ReadFile("/etc/subgid", 1 << 20);
  if (subuid.ok()) plan.uids = ParseSubordinateIds(*subuid, user, uid);
  if (subgid.ok()) plan.gids = ParseSubordinateIds(*subgid, user, uid);
  plan.newuidmap = FindHelper("newuidmap");
  plan.newgidmap = FindHelper("newgidmap");
  return plan;
}

absl::Status WriteMaps(pid_t pid, const Plan& plan, uid_t uid, gid_t gid) {
  if (plan.subordinate()) {
    RETURN_IF_ERROR(RunHelper(plan.newuidmap, pid, IdMapArguments(uid, plan.uids)));
    return RunHelper(plan.newgidmap, pid, IdMapArguments(gid, plan.gids));
  }
  // An unprivileged process may map only itself, and only after giving up setgroups.
  RETURN_IF_ERROR(WriteProcFile(pid, "uid_map", absl::StrCat("0 ", uid, " 1\n")));
  RETURN_IF_ERROR(WriteProcFile(pid, "setgroups", "deny"));
  return WriteProcFile(pid, "gid_map", absl::StrCat("0 ", gid, " 1\n"));
}

[[noreturn]] void WaitAndExit(pid_t pid) {
  struct sigaction sa = {};
  sa.sa_handler = ForwardSignal;
  ::sigemptyset(&sa.sa_mask);
  for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGQUIT}) ::sigaction(sig, &sa, nullptr);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) _exit(125);
  }
  if (WIFSIGNALED(status)) {
    // Die the same way, so callers see the signal rather than a made-up exit code.
    ::signal(WTERMSIG(status), SIG_DFL);
    ::raise(WTERMSIG(status));
    _exit(128 + WTERMSIG(status));
  }
  _exit(WEXITSTATUS(status));
}

}  // namespace

std::vector<SubordinateRange> ParseSubordinateIds(absl::string_view text, absl::string_view user,
                                                  uint32_t id) {
  std::vector<SubordinateRange> ranges;
  std::string id_text = absl::StrCat(id);
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line[0] == '#') continue;
    std::vector<absl::string_view> fields = absl::StrSplit(line, ':');
    if (fields.size() != 3) continue;
    if (fields[0] != id_text && (user.empty() || fields[0] != user)) continue;
    SubordinateRange r;
    if (!absl::SimpleAtoi(fields[1], &r.start) || !absl::SimpleAtoi(fields[2], &r.count) ||
        r.count == 0) {
      continue;
    }
    ranges.push_back(r);
    if (ranges.size() == kMaxRanges) break;
  }
  return ranges;
}

std::vector<std::string> IdMapArguments(uint32_t id, const std::vector<SubordinateRange>& ranges) {
  std::vector<std::string> args = {"0", absl::StrCat(id), "1"};
  uint64_t inside = 1;
  for (const SubordinateRange& r : ranges) {
    uint64_t count = std::min<uint64_t>(r.count, 4294967295u - inside);
    if (count == 0) break;
    args.push_back(absl::StrCat(inside));
    args.push_back(absl::StrCat(r.start));
    args.push_back(absl::StrCat(count));
    inside += count;
  }
  return args;
}

absl::Status EnterUserNamespace() {
  if (::geteuid() == 0) return absl::OkStatus();
  uid_t uid = ::geteuid();
  gid_t gid = ::getegid();
  Plan plan = MakePlan(uid);

  int up[2], down[2];
  if (::pipe2(up, O_CLOEXEC) != 0 || ::pipe2(down, O_CLOEXEC) != 0) {
    return ErrnoError("pipe for the user namespace setup");
  }
  UniqueFd up_read(up[0]), up_write(up[1]), down_read(down[0]), down_write(down[1]);
  std::fflush(nullptr);
  pid_t pid = ::fork();
  if (pid < 0) return ErrnoError("fork into a user namespace");
  if (pid == 0) {
    up_read.Reset();
    down_write.Reset();
    int err = ::unshare(CLONE_NEWUSER) == 0 ? 0 : errno;
    (void)!::write(up_write.get(), &err, sizeof err);
    if (err != 0) _exit(125);
    char go = 0;
    if (!ReadAllBytes(down_read.get(), &go, 1).ok() || go != 'k') _exit(125);
    // The maps are written: this process is root in its namespace, with every capability
    // there. The parent's death is the end of the command too.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() == 1) _exit(125);
    return absl::OkStatus();
  }
  up_write.Reset();
  down_read.Reset();
  int err = 0;
  absl::Status status = ReadAllBytes(up_read.get(), &err, sizeof err);
  if (status.ok() && err != 0) {
    status = ErrnoError(
        "create a user namespace (are unprivileged user namespaces enabled? "
        "see sysctl user.max_user_namespaces)",
        err);
  }
  if (status.ok()) {
    status = Annotate(WriteMaps(pid, plan, uid, gid), "map ids into the user namespace");
  }
  if (!status.ok()) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    return status;
  }
  child_pid = pid;
  char go = 'k';
  (void)!::write(down_write.get(), &go, 1);
  WaitAndExit(pid);
}

}  // namespace kiln
