#include "base/in_root.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "base/path_walk.h"
#include "base/status_macros.h"

namespace kiln {

absl::StatusOr<UniqueFd> OpenInRoot(int root_fd, absl::string_view path, int flags, int mode) {
  std::string p(path.empty() ? "." : path);
  struct open_how how = {};
  how.flags = static_cast<uint64_t>(flags | O_CLOEXEC);
  how.mode = (flags & (O_CREAT | O_TMPFILE)) ? static_cast<uint64_t>(mode) : 0;
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  while (true) {
    long fd = ::syscall(SYS_openat2, root_fd, p.c_str(), &how, sizeof how);
    if (fd >= 0) return UniqueFd(static_cast<int>(fd));
    if (errno == EINTR || errno == EAGAIN) continue;
    return ErrnoError(absl::StrCat("open ", p, " in root"));
  }
}

std::pair<absl::string_view, absl::string_view> SplitParent(absl::string_view path) {
  size_t slash = path.rfind('/');
  if (slash == absl::string_view::npos) return {absl::string_view(), path};
  return {path.substr(0, slash), path.substr(slash + 1)};
}

absl::StatusOr<UniqueFd> MkdirAllInRoot(int root_fd, absl::string_view path) {
  // Symlinks are followed by hand, their targets taken relative to the root (absolute) or to
  // the directory holding them, so that a dangling link such as "etc -> /opt/etc" gets its
  // target created inside the root, as Docker does.
  auto visit = [&](const std::vector<std::string>& parents, const std::string& name,
                   bool) -> absl::StatusOr<PathStep> {
    ASSIGN_OR_RETURN(UniqueFd dir, OpenInRoot(root_fd, absl::StrJoin(parents, "/"),
                                              O_PATH | O_DIRECTORY | O_NOFOLLOW));
    struct stat st;
    if (::fstatat(dir.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno != ENOENT) return ErrnoError(absl::StrCat("stat ", name));
      if (::mkdirat(dir.get(), name.c_str(), 0755) != 0 && errno != EEXIST) {
        return ErrnoError(absl::StrCat("mkdir ", absl::StrJoin(parents, "/"), "/", name));
      }
      return PathStep{};
    }
    if (S_ISDIR(st.st_mode)) return PathStep{};
    if (!S_ISLNK(st.st_mode)) return ErrnoError(absl::StrCat("mkdir ", path), ENOTDIR);
    std::string target(4096, '\0');
    ssize_t n = ::readlinkat(dir.get(), name.c_str(), target.data(), target.size());
    if (n < 0) return ErrnoError(absl::StrCat("readlink ", name));
    target.resize(n);
    return PathStep{true, std::move(target)};
  };
  ASSIGN_OR_RETURN(std::vector<std::string> done, WalkPath(path, visit));
  return OpenInRoot(root_fd, absl::StrJoin(done, "/"), O_PATH | O_DIRECTORY);
}

absl::StatusOr<std::string> CleanMemberPath(absl::string_view name) {
  std::vector<absl::string_view> out;
  for (absl::string_view part : absl::StrSplit(name, '/', absl::SkipEmpty())) {
    if (part == ".") continue;
    if (part == "..") {
      return absl::InvalidArgumentError(absl::StrCat("path \"", name, "\" contains \"..\""));
    }
    out.push_back(part);
  }
  if (out.empty()) return std::string();
  return absl::StrJoin(out, "/");
}

absl::Status RemoveAllAt(int dirfd, const std::string& name) {
  struct stat st;
  if (::fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno == ENOENT) return absl::OkStatus();
    return ErrnoError(absl::StrCat("stat ", name));
  }
  if (S_ISDIR(st.st_mode)) {
    int fd = ::openat(dirfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return ErrnoError(absl::StrCat("open ", name));
    DIR* d = ::fdopendir(fd);
    if (d == nullptr) {
      ::close(fd);
      return ErrnoError(absl::StrCat("list ", name));
    }
    std::vector<std::string> children;
    while (struct dirent* e = ::readdir(d)) {
      absl::string_view child = e->d_name;
      if (child != "." && child != "..") children.emplace_back(child);
    }
    absl::Status status;
    for (const std::string& child : children) {
      status = RemoveAllAt(::dirfd(d), child);
      if (!status.ok()) break;
    }
    ::closedir(d);
    RETURN_IF_ERROR_CTX(status, name);
    if (::unlinkat(dirfd, name.c_str(), AT_REMOVEDIR) != 0 && errno != ENOENT) {
      return ErrnoError(absl::StrCat("remove ", name));
    }
    return absl::OkStatus();
  }
  if (::unlinkat(dirfd, name.c_str(), 0) != 0 && errno != ENOENT) {
    return ErrnoError(absl::StrCat("remove ", name));
  }
  return absl::OkStatus();
}

}  // namespace kiln
