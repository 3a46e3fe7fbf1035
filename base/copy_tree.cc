#include "base/copy_tree.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "base/unique_fd.h"

namespace kiln {
namespace {

absl::Status Errno(const std::string& what, int err = errno) {
  return absl::ErrnoToStatus(err, what);
}

class Copier {
 public:
  // Copies `name` in `src_dir` to `to_name` in `dst_dir`; `shown` names it in errors.
  // Long by design: one branch per file type, each with its metadata copy beside it.
  absl::Status Entry(int src_dir, const std::string& name, int dst_dir, const std::string& to_name,
                     const std::string& shown) {
    if (++entries_ > kMaxCopyTreeEntries) {
      return absl::ResourceExhaustedError(
          absl::StrCat("more than ", kMaxCopyTreeEntries, " entries to copy"));
    }
    struct stat st;
    if (::fstatat(src_dir, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      return Errno("stat " + shown);
    }
    if (S_ISDIR(st.st_mode)) {
      if (::mkdirat(dst_dir, to_name.c_str(), 0700) != 0) return Errno("mkdir " + shown);
      UniqueFd from(
          ::openat(src_dir, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      UniqueFd to(
          ::openat(dst_dir, to_name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (!from.valid() || !to.valid()) return Errno("open " + shown);
      DIR* d = ::fdopendir(::dup(from.get()));
      if (d == nullptr) return Errno("read " + shown);
      absl::Status status;
      while (struct dirent* e = ::readdir(d)) {
        std::string child = e->d_name;
        if (child == "." || child == "..") continue;
        status = Entry(from.get(), child, to.get(), child, shown + "/" + child);
        if (!status.ok()) break;
      }
      ::closedir(d);
      RETURN_IF_ERROR(status);
      return Finish(to.get(), st, shown);
    }
    if (S_ISREG(st.st_mode) && st.st_nlink > 1) {
      auto key = std::make_pair(st.st_dev, st.st_ino);
      if (auto it = links_.find(key); it != links_.end()) {
        if (::linkat(it->second.first, it->second.second.c_str(), dst_dir, to_name.c_str(), 0) !=
            0) {
          return Errno("link " + shown);
        }
        return absl::OkStatus();
      }
    }
    if (S_ISREG(st.st_mode)) {
      UniqueFd in(::openat(src_dir, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
      if (!in.valid()) return Errno("open " + shown);
      UniqueFd out(
          ::openat(dst_dir, to_name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
      if (!out.valid()) return Errno("create " + shown);
      for (off_t left = st.st_size; left > 0;) {
        ssize_t n = ::copy_file_range(in.get(), nullptr, out.get(), nullptr, left, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return Errno("copy " + shown);
        if (n == 0) break;  // the file shrank
        left -= n;
      }
      RETURN_IF_ERROR(Finish(out.get(), st, shown));
      if (st.st_nlink > 1) {
        UniqueFd keep(::dup(dst_dir));
        links_[{st.st_dev, st.st_ino}] = {keep.get(), to_name};
        kept_.push_back(std::move(keep));
      }
      return absl::OkStatus();
    }
    if (S_ISLNK(st.st_mode)) {
      std::string target(st.st_size > 0 ? st.st_size + 1 : 4096, '\0');
      ssize_t n = ::readlinkat(src_dir, name.c_str(), target.data(), target.size());
      if (n < 0) return Errno("readlink " + shown);
      target.resize(n);
      if (::symlinkat(target.c_str(), dst_dir, to_name.c_str()) != 0)
        return Errno("symlink " + shown);
      if (::fchownat(dst_dir, to_name.c_str(), st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW) != 0) {
        return Errno("chown " + shown);
      }
      const struct timespec times[2] = {st.st_atim, st.st_mtim};
      ::utimensat(dst_dir, to_name.c_str(), times, AT_SYMLINK_NOFOLLOW);
      return absl::OkStatus();
    }
    if (S_ISSOCK(st.st_mode)) return absl::OkStatus();
    // fifos and devices: recreated where allowed, else left out
    if (::mknodat(dst_dir, to_name.c_str(), st.st_mode, st.st_rdev) != 0) return absl::OkStatus();
    ::fchownat(dst_dir, to_name.c_str(), st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW);
    return absl::OkStatus();
  }

 private:
  static absl::Status Finish(int fd, const struct stat& st, const std::string& shown) {
    if (::fchown(fd, st.st_uid, st.st_gid) != 0) return Errno("chown " + shown);
    if (::fchmod(fd, st.st_mode & 07777) != 0) return Errno("chmod " + shown);
    const struct timespec times[2] = {st.st_atim, st.st_mtim};
    if (::futimens(fd, times) != 0) return Errno("set times of " + shown);
    return absl::OkStatus();
  }

  uint64_t entries_ = 0;
  std::map<std::pair<dev_t, ino_t>, std::pair<int, std::string>> links_;
  std::vector<UniqueFd> kept_;  // the directories hard links are made in
};

}  // namespace

absl::Status CopyTree(const std::string& src, const std::string& dst) {
  auto split = [](const std::string& path) {
    size_t slash = path.find_last_of('/');
    std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
    return std::make_pair(dir, path.substr(slash == std::string::npos ? 0 : slash + 1));
  };
  auto [src_dir, src_name] = split(src);
  auto [dst_dir, dst_name] = split(dst);
  UniqueFd from(::open(src_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!from.valid()) return Errno("open " + src_dir);
  UniqueFd to(::open(dst_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!to.valid()) return Errno("open " + dst_dir);
  Copier copier;
  return copier.Entry(from.get(), src_name, to.get(), dst_name, src);
}

}  // namespace kiln
