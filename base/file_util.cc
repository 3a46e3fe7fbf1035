#include "base/file_util.h"

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <set>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "base/interrupt.h"
#include "base/status_macros.h"

namespace kiln {

absl::StatusOr<std::string> ReadFile(const std::string& path, uint64_t max_size) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return ErrnoError(absl::StrCat("open ", path));
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return ErrnoError(absl::StrCat("stat ", path));
  if (static_cast<uint64_t>(st.st_size) > max_size) {
    return absl::OutOfRangeError(
        absl::StrCat(path, " is ", st.st_size, " bytes, more than the limit of ", max_size));
  }
  std::string out;
  char buf[65536];
  while (true) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError(absl::StrCat("read ", path));
    }
    if (n == 0) break;
    out.append(buf, n);
    if (out.size() > max_size) {
      return absl::OutOfRangeError(
          absl::StrCat(path, " exceeds the limit of ", max_size, " bytes"));
    }
  }
  return out;
}

absl::Status WriteAll(int fd, absl::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError("write");
    }
    data.remove_prefix(n);
  }
  return absl::OkStatus();
}

absl::Status FsyncDir(const std::string& dir) {
  UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd.valid()) return ErrnoError(absl::StrCat("open ", dir));
  if (::fsync(fd.get()) != 0) return ErrnoError(absl::StrCat("fsync ", dir));
  return absl::OkStatus();
}

std::string Dirname(absl::string_view path) {
  size_t slash = path.rfind('/');
  if (slash == absl::string_view::npos) return ".";
  if (slash == 0) return "/";
  return std::string(path.substr(0, slash));
}

std::string Basename(absl::string_view path) {
  size_t slash = path.rfind('/');
  return std::string(slash == absl::string_view::npos ? path : path.substr(slash + 1));
}

absl::Status WriteFileInPlace(const std::string& path, absl::string_view data, bool create,
                              int mode) {
  int flags = O_WRONLY | O_CLOEXEC | (create ? O_CREAT | O_TRUNC : 0);
  UniqueFd fd(::open(path.c_str(), flags, mode));
  if (!fd.valid()) return ErrnoError("open " + path);
  if (create) return Annotate(WriteAll(fd.get(), data), "write " + path);
  return Annotate(WriteAll(fd.get(), data), absl::StrCat("write \"", data, "\" to ", path));
}

absl::Status WriteFileAtomic(const std::string& path, absl::string_view data, int mode) {
  std::string tmp = absl::StrCat(path, ".tmp-XXXXXX");
  UniqueFd fd(::mkstemp(tmp.data()));
  if (!fd.valid()) return ErrnoError(absl::StrCat("create temporary file for ", path));
  absl::Status status = WriteAll(fd.get(), data);
  if (status.ok() && ::fchmod(fd.get(), mode) != 0) status = ErrnoError("chmod");
  if (status.ok() && ::fsync(fd.get()) != 0) status = ErrnoError("fsync");
  if (status.ok() && ::rename(tmp.c_str(), path.c_str()) != 0) status = ErrnoError("rename");
  if (!status.ok()) {
    ::unlink(tmp.c_str());
    return Annotate(status, absl::StrCat("writing ", path));
  }
  return FsyncDir(Dirname(path));
}

absl::Status MakeDirs(const std::string& path, int mode) {
  if (path.empty()) return absl::OkStatus();
  struct stat st;
  if (::stat(path.c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode)) return absl::OkStatus();
    return absl::FailedPreconditionError(absl::StrCat(path, " exists and is not a directory"));
  }
  std::string parent = Dirname(path);
  if (parent != path && parent != "." && parent != "/") RETURN_IF_ERROR(MakeDirs(parent, mode));
  if (::mkdir(path.c_str(), mode) != 0 && errno != EEXIST) {
    return ErrnoError(absl::StrCat("mkdir ", path));
  }
  return absl::OkStatus();
}

absl::Status RemoveAll(const std::string& path) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return absl::OkStatus();
    return ErrnoError(absl::StrCat("stat ", path));
  }
  int rc = ::nftw(
      path.c_str(),
      [](const char* p, const struct stat*, int, struct FTW*) -> int { return ::remove(p); }, 64,
      FTW_DEPTH | FTW_PHYS);
  if (rc != 0) return ErrnoError(absl::StrCat("remove ", path));
  return absl::OkStatus();
}

uint64_t DiskUsageOf(const std::string& path) {
  // nftw's callback takes no context: this thread's walk keeps its state here.
  struct Walk {
    uint64_t bytes = 0;
    std::set<std::pair<dev_t, ino_t>> linked;
  };
  static thread_local Walk* walk = nullptr;
  Walk w;
  walk = &w;
  ::nftw(
      path.c_str(),
      [](const char*, const struct stat* st, int type, struct FTW*) -> int {
        if (type == FTW_NS) return 0;
        if (st->st_nlink > 1 && !S_ISDIR(st->st_mode) &&
            !walk->linked.emplace(st->st_dev, st->st_ino).second) {
          return 0;
        }
        walk->bytes += static_cast<uint64_t>(st->st_blocks) * 512;
        return 0;
      },
      64, FTW_PHYS);
  walk = nullptr;
  return w.bytes;
}

absl::StatusOr<std::vector<std::string>> ListDir(const std::string& dir) {
  std::vector<std::string> names;
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) {
    if (errno == ENOENT) return names;
    return ErrnoError(absl::StrCat("list ", dir));
  }
  while (struct dirent* e = ::readdir(d)) {
    absl::string_view name = e->d_name;
    if (name != "." && name != "..") names.emplace_back(name);
  }
  ::closedir(d);
  return names;
}

bool PathExists(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;
}

absl::StatusOr<std::string> MakeTempDir(const std::string& prefix) {
  std::string tmpl = absl::StrCat(prefix, "XXXXXX");
  if (::mkdtemp(tmpl.data()) == nullptr) {
    return ErrnoError(absl::StrCat("create temporary directory ", tmpl));
  }
  return tmpl;
}

namespace {

// Whether the lock on `owner` is free: its maker is gone.
bool OwnerIsGone(const std::string& owner) {
  UniqueFd fd(::open(owner.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd.valid()) return false;
  return ::flock(fd.get(), LOCK_EX | LOCK_NB) == 0;
}

}  // namespace

int SweepDeadTempDirs(const std::string& prefix, int64_t unowned_age_seconds) {
  std::string dir = Dirname(prefix);
  std::string base = prefix.substr(prefix.rfind('/') + 1);
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return 0;
  std::vector<std::string> names;
  while (struct dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name.size() > base.size() && name.compare(0, base.size(), base) == 0) {
      names.push_back(std::move(name));
    }
  }
  ::closedir(d);
  int removed = 0;
  const time_t now = ::time(nullptr);
  for (const std::string& name : names) {
    std::string path = absl::StrCat(dir, "/", name);
    struct stat st;
    if (::lstat(path.c_str(), &st) != 0) continue;
    if (absl::EndsWith(name, ".owner") || absl::EndsWith(name, ".owner-new")) {
      // An owner whose directory is gone (its maker died while removing it).
      std::string of = path.substr(0, path.rfind('.'));
      if (S_ISREG(st.st_mode) && !PathExists(of) && OwnerIsGone(path)) ::unlink(path.c_str());
      continue;
    }
    if (!S_ISDIR(st.st_mode)) continue;
    std::string owner = path + ".owner";
    bool dead = PathExists(owner) ? OwnerIsGone(owner) : now - st.st_mtime > unowned_age_seconds;
    if (!dead) continue;
    if (RemoveAll(path).ok()) {
      ::unlink(owner.c_str());
      ++removed;
    }
  }
  return removed;
}

absl::StatusOr<TempDir> TempDir::Create(const std::string& prefix) {
  (void)SweepDeadTempDirs(prefix);
  ASSIGN_OR_RETURN(std::string path, MakeTempDir(prefix));
  // The lock is taken on a file of another name and then renamed into place, so no one ever
  // sees `<dir>.owner` unlocked while the maker lives.
  std::string owner = path + ".owner";
  std::string fresh = owner + "-new";
  UniqueFd fd(::open(fresh.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (!fd.valid() || ::flock(fd.get(), LOCK_EX) != 0 ||
      ::rename(fresh.c_str(), owner.c_str()) != 0) {
    absl::Status s = ErrnoError(absl::StrCat("lock ", owner));
    ::unlink(fresh.c_str());
    (void)RemoveAll(path);
    return s;
  }
  interrupt::AddPath(path);
  return TempDir(std::move(path), std::move(fd));
}

TempDir::~TempDir() {
  if (path_.empty()) return;
  (void)RemoveAll(path_);
  ::unlink((path_ + ".owner").c_str());
  interrupt::RemovePath(path_);
}

}  // namespace kiln
