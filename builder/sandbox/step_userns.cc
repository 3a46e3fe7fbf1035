#include "builder/sandbox/step_userns.h"

#include <fcntl.h>
#include <linux/mount.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <iterator>
#include <mutex>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "base/file_util.h"
#include "base/rootless.h"
#include "base/status_macros.h"
#include "builder/sandbox/namespace_holder.h"

namespace kiln::builder::sandbox {
namespace {

bool Overlaps(uint64_t a, uint64_t a_count, uint64_t b, uint64_t b_count) {
  return a < b + b_count && b < a + a_count;
}

// The first entry of a passwd-like file (id in field `field`) inside [base, base+count).
std::string IdInRange(absl::string_view text, int field, uint32_t base, uint32_t count,
                      const char* what) {
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    std::vector<absl::string_view> f = absl::StrSplit(line, ':');
    uint32_t id;
    if (static_cast<int>(f.size()) > field && absl::SimpleAtoi(f[field], &id) &&
        Overlaps(id, 1, base, count)) {
      return absl::StrCat(what, " ", f[0], " (", id, ")");
    }
  }
  return "";
}

// The first subordinate range of a user other than root inside [base, base+count).
std::string RangeInRange(absl::string_view text, uint32_t base, uint32_t count, const char* file) {
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    std::vector<absl::string_view> f = absl::StrSplit(line, ':');
    uint32_t start, n;
    if (f.size() == 3 && f[0] != "root" && f[0] != "0" && absl::SimpleAtoi(f[1], &start) &&
        absl::SimpleAtoi(f[2], &n) && Overlaps(start, n, base, count)) {
      return absl::StrCat("the ", file, " range of ", f[0]);
    }
  }
  return "";
}

absl::Status WriteProcFile(pid_t pid, const char* name, absl::string_view text) {
  return WriteFileInPlace(absl::StrCat("/proc/", pid, "/", name), text, /*create=*/false);
}

}  // namespace

absl::StatusOr<StepIdRange> ChooseStepIds(absl::string_view passwd, absl::string_view group,
                                          absl::string_view subuid, absl::string_view subgid) {
  std::vector<SubordinateRange> uids = ParseSubordinateIds(subuid, "root", 0);
  std::vector<SubordinateRange> gids = ParseSubordinateIds(subgid, "root", 0);
  if (!uids.empty() && !gids.empty()) {
    StepIdRange r{uids[0].start, gids[0].start, std::min(uids[0].count, gids[0].count)};
    if (r.count == 0 || r.uid_base == 0 || r.gid_base == 0) {
      return absl::FailedPreconditionError(
          "root's range in /etc/subuid or /etc/subgid is empty or starts at 0");
    }
    return r;
  }
  StepIdRange r{kDefaultStepIdBase, kDefaultStepIdBase, kStepIdCount};
  for (const std::string& in_the_way : {IdInRange(passwd, 2, r.uid_base, r.count, "user"),
                                        IdInRange(group, 2, r.gid_base, r.count, "group"),
                                        RangeInRange(subuid, r.uid_base, r.count, "/etc/subuid"),
                                        RangeInRange(subgid, r.gid_base, r.count, "/etc/subgid")}) {
    if (in_the_way.empty()) continue;
    return absl::FailedPreconditionError(absl::StrCat(
        "RUN steps run as host ids ", r.uid_base, "-", r.uid_base + r.count - 1, ", but ",
        in_the_way,
        " is in that range; give root a range of its own in /etc/subuid and "
        "/etc/subgid (a line \"root:START:65536\" in each), or build with --userns=host"));
  }
  return r;
}

absl::StatusOr<std::unique_ptr<StepUserNamespace>> StepUserNamespace::Create(
    const StepIdRange& range) {
  std::unique_ptr<StepUserNamespace> ns(new StepUserNamespace());
  ns->range_ = range;
  ASSIGN_OR_RETURN_CTX(
      ns->fd_,
      NewNamespace(CLONE_NEWUSER, "user", /*join_userns_fd=*/-1,
                   [&](pid_t pid) -> absl::Status {
                     RETURN_IF_ERROR(WriteProcFile(
                         pid, "uid_map", absl::StrCat("0 ", range.uid_base, " ", range.count)));
                     return WriteProcFile(pid, "gid_map",
                                          absl::StrCat("0 ", range.gid_base, " ", range.count));
                   }),
      "the user namespace of RUN steps");
  return ns;
}

absl::StatusOr<const StepUserNamespace*> StepUserNamespace::ForThisHost() {
  static std::mutex mu;
  static absl::StatusOr<std::unique_ptr<StepUserNamespace>>* made = nullptr;
  std::lock_guard<std::mutex> lock(mu);
  if (made == nullptr) {
    auto read = [](const char* path) { return ReadFile(path, 16 << 20).value_or(""); };
    auto range = ChooseStepIds(read("/etc/passwd"), read("/etc/group"), read("/etc/subuid"),
                               read("/etc/subgid"));
    made = new absl::StatusOr<std::unique_ptr<StepUserNamespace>>(range.ok() ? Create(*range)
                                                                             : range.status());
  }
  if (!made->ok()) return made->status();
  return made->value().get();
}

absl::StatusOr<UniqueFd> DetachedTree(const std::string& path, int userns_fd, uint64_t attr_set) {
  UniqueFd tree(static_cast<int>(::syscall(SYS_open_tree, AT_FDCWD, path.c_str(),
                                           OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE)));
  if (!tree.valid()) return ErrnoError("clone the mount tree of " + path);
  mount_attr attr = {};
  attr.attr_set = attr_set;
  if (userns_fd >= 0) {
    attr.attr_set |= MOUNT_ATTR_IDMAP;
    attr.userns_fd = static_cast<uint64_t>(userns_fd);
  }
  if (attr.attr_set != 0 && ::syscall(SYS_mount_setattr, tree.get(), "",
                                      AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof attr) != 0) {
    return ErrnoError(userns_fd >= 0 ? "idmap the mount of " + path
                                     : "set the mount attributes of " + path);
  }
  return tree;
}

}  // namespace kiln::builder::sandbox
