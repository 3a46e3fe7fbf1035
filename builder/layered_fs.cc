#include "builder/layered_fs.h"

#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "base/file_util.h"
#include "base/path_walk.h"
#include "base/status_macros.h"

namespace kiln::builder {
namespace {

bool IsWhiteout(const struct stat& st) { return S_ISCHR(st.st_mode) && st.st_rdev == 0; }

}  // namespace

bool LayeredFs::IsOpaque(const std::string& host_dir) const {
  char value[2];
  for (const char* name : {"trusted.overlay.opaque", "user.overlay.opaque"}) {
    ssize_t n = ::lgetxattr(host_dir.c_str(), name, value, sizeof value);
    if (n == 1 && value[0] == 'y') return true;
  }
  return false;
}

std::optional<LayeredFs::Entry> LayeredFs::Lookup(absl::string_view path) const {
  // Which layers still contribute at the current depth: all of them at the root.
  std::vector<size_t> live(layers_.size());
  for (size_t i = 0; i < live.size(); ++i) live[i] = i;
  std::string prefix;
  std::optional<Entry> found;
  std::vector<absl::string_view> parts = absl::StrSplit(path, '/', absl::SkipEmpty());
  if (parts.empty()) {
    for (size_t i : live) {
      Entry e{layers_[i], {}};
      if (::lstat(e.host_path.c_str(), &e.st) == 0) return e;
    }
    return std::nullopt;
  }
  for (size_t depth = 0; depth < parts.size(); ++depth) {
    absl::StrAppend(&prefix, "/", parts[depth]);
    std::vector<size_t> next;
    found.reset();
    for (size_t i : live) {
      Entry e{layers_[i] + prefix, {}};
      if (::lstat(e.host_path.c_str(), &e.st) != 0) continue;
      if (IsWhiteout(e.st)) break;  // hides this name in every layer below
      if (!found) found = e;
      if (!S_ISDIR(e.st.st_mode) || !S_ISDIR(found->st.st_mode)) break;
      next.push_back(i);
      if (IsOpaque(e.host_path)) break;
    }
    if (!found) return std::nullopt;
    if (depth + 1 < parts.size() && !S_ISDIR(found->st.st_mode)) return std::nullopt;
    live = std::move(next);
  }
  return found;
}

absl::StatusOr<std::string> LayeredFs::Resolve(absl::string_view path, bool follow_last) const {
  auto visit = [&](const std::vector<std::string>& parents, const std::string& name,
                   bool last) -> absl::StatusOr<PathStep> {
    if (last && !follow_last) return PathStep{};
    std::optional<Entry> e = Lookup(absl::StrCat("/", absl::StrJoin(parents, "/"), "/", name));
    if (!e || !S_ISLNK(e->st.st_mode)) return PathStep{};
    char target[4096];
    ssize_t n = ::readlink(e->host_path.c_str(), target, sizeof target);
    if (n < 0) return ErrnoError(absl::StrCat("readlink ", e->host_path));
    return PathStep{true, std::string(target, n)};
  };
  ASSIGN_OR_RETURN(std::vector<std::string> parts, WalkPath(path, visit));
  return absl::StrCat("/", absl::StrJoin(parts, "/"));
}

std::optional<std::string> LayeredFs::ReadFile(absl::string_view path, size_t max_size) const {
  auto resolved = Resolve(path, /*follow_last=*/true);
  if (!resolved.ok()) return std::nullopt;
  std::optional<Entry> e = Lookup(*resolved);
  if (!e || !S_ISREG(e->st.st_mode)) return std::nullopt;
  auto data = kiln::ReadFile(e->host_path, max_size);
  return data.ok() ? std::optional<std::string>(*std::move(data)) : std::nullopt;
}

}  // namespace kiln::builder
