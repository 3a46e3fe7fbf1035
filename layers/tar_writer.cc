#include "layers/tar_writer.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <memory>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "base/status_macros.h"
#include "base/unique_fd.h"

namespace kiln::layers {
namespace {

constexpr char kWhiteoutPrefix[] = ".wh.";
constexpr char kOpaqueMarker[] = ".wh..wh..opq";

bool SkippedXattr(absl::string_view name) {
  return absl::StartsWith(name, "trusted.overlay.") || absl::StartsWith(name, "user.overlay.") ||
         name == "security.selinux";
}

struct Child {
  std::string tar_name;  // name in the archive (".wh.x" for a whiteout of x)
  std::string fs_name;   // name on disk
  struct stat st;
  bool whiteout = false;
};

class TarWalker {
 public:
  TarWalker(std::string root, const TarOptions& options, Writer* out)
      : root_(std::move(root)), options_(options), out_(out), buf_(1 << 20) {}

  ~TarWalker() {
    if (a_) archive_write_free(a_);
  }

  absl::Status Run() {
    a_ = archive_write_new();
    if (archive_write_set_format_pax_restricted(a_) != ARCHIVE_OK ||
        archive_write_set_options(a_, "xattrheader=SCHILY") < ARCHIVE_WARN ||
        archive_write_set_bytes_per_block(a_, 0) != ARCHIVE_OK ||
        archive_write_set_bytes_in_last_block(a_, 1) != ARCHIVE_OK) {
      return ArchiveError("configuring tar writer");
    }
    if (archive_write_open2(a_, this, nullptr, &TarWalker::WriteCallback, nullptr, nullptr) !=
        ARCHIVE_OK) {
      return ArchiveError("opening tar writer");
    }
    UniqueFd fd(::open(root_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!fd.valid()) return ErrnoError(absl::StrCat("open ", root_));
    RETURN_IF_ERROR(WalkDir(fd.get(), ""));
    if (archive_write_close(a_) != ARCHIVE_OK) return ArchiveError("finishing tar");
    return absl::OkStatus();
  }

 private:
  static la_ssize_t WriteCallback(struct archive* a, void* self_ptr, const void* buf, size_t n) {
    auto* self = static_cast<TarWalker*>(self_ptr);
    absl::Status s = self->out_->Write(absl::string_view(static_cast<const char*>(buf), n));
    if (!s.ok()) {
      self->sink_error_ = s;
      archive_set_error(a, EIO, "write failed");
      return -1;
    }
    return static_cast<la_ssize_t>(n);
  }

  absl::Status ArchiveError(absl::string_view what) {
    if (!sink_error_.ok()) return sink_error_;
    const char* msg = archive_error_string(a_);
    return absl::InternalError(absl::StrCat(what, ": ", msg ? msg : "unknown libarchive error"));
  }

  int64_t Mtime(const struct stat& st) const {
    int64_t t = st.st_mtim.tv_sec;
    if (options_.source_date_epoch && t > *options_.source_date_epoch) {
      t = *options_.source_date_epoch;
    }
    return t;
  }

  absl::StatusOr<std::vector<Child>> ListChildren(int dirfd, const std::string& rel) {
    UniqueFd dup(::fcntl(dirfd, F_DUPFD_CLOEXEC, 3));
    DIR* d = ::fdopendir(dup.get());
    if (d == nullptr) return ErrnoError(absl::StrCat("list ", root_, "/", rel));
    dup.Release();
    ::rewinddir(d);
    std::vector<Child> children;
    absl::Status status;
    while (struct dirent* e = ::readdir(d)) {
      absl::string_view name = e->d_name;
      if (name == "." || name == "..") continue;
      Child c;
      c.fs_name = std::string(name);
      c.tar_name = c.fs_name;
      if (::fstatat(dirfd, e->d_name, &c.st, AT_SYMLINK_NOFOLLOW) != 0) {
        status = ErrnoError(absl::StrCat("stat ", root_, "/", rel, c.fs_name));
        break;
      }
      if (S_ISSOCK(c.st.st_mode)) continue;
      if (options_.overlay_whiteouts && S_ISCHR(c.st.st_mode) && c.st.st_rdev == makedev(0, 0)) {
        c.whiteout = true;
        c.tar_name = absl::StrCat(kWhiteoutPrefix, c.fs_name);
      }
      children.push_back(std::move(c));
    }
    ::closedir(d);
    RETURN_IF_ERROR(status);
    std::sort(children.begin(), children.end(),
              [](const Child& a, const Child& b) { return a.tar_name < b.tar_name; });
    return children;
  }

  bool IsOpaque(const std::string& full) {
    char v[4];
    for (const char* name : {"trusted.overlay.opaque", "user.overlay.opaque"}) {
      ssize_t n = ::lgetxattr(full.c_str(), name, v, sizeof v);
      if (n == 1 && v[0] == 'y') return true;
    }
    return false;
  }

  absl::Status AddXattrs(const std::string& full, struct archive_entry* entry) {
    ssize_t n = ::llistxattr(full.c_str(), nullptr, 0);
    if (n <= 0) return absl::OkStatus();  // none, or unsupported by the file system
    std::string names(n, '\0');
    n = ::llistxattr(full.c_str(), names.data(), names.size());
    if (n < 0) return ErrnoError(absl::StrCat("list xattrs of ", full));
    names.resize(n);
    std::vector<std::string> sorted;
    for (absl::string_view name : absl::StrSplit(names, '\0', absl::SkipEmpty())) {
      if (!SkippedXattr(name)) sorted.emplace_back(name);
    }
    std::sort(sorted.begin(), sorted.end());
    for (const std::string& name : sorted) {
      ssize_t size = ::lgetxattr(full.c_str(), name.c_str(), nullptr, 0);
      if (size < 0) return ErrnoError(absl::StrCat("read xattr ", name, " of ", full));
      std::string value(size, '\0');
      size = ::lgetxattr(full.c_str(), name.c_str(), value.data(), value.size());
      if (size < 0) return ErrnoError(absl::StrCat("read xattr ", name, " of ", full));
      value.resize(size);
      archive_entry_xattr_add_entry(entry, name.c_str(), value.data(), value.size());
    }
    return absl::OkStatus();
  }

  absl::Status WriteHeader(struct archive_entry* entry, const std::string& name) {
    int rc = archive_write_header(a_, entry);
    if (rc < ARCHIVE_WARN) return ArchiveError(absl::StrCat("writing header of ", name));
    return absl::OkStatus();
  }

  // An empty regular file standing for a whiteout marker.
  absl::Status WriteMarker(const std::string& path, int64_t mtime) {
    std::unique_ptr<archive_entry, decltype(&archive_entry_free)> e(archive_entry_new(),
                                                                    archive_entry_free);
    archive_entry_set_pathname(e.get(), path.c_str());
    archive_entry_set_filetype(e.get(), AE_IFREG);
    archive_entry_set_perm(e.get(), 0644);
    archive_entry_set_size(e.get(), 0);
    archive_entry_set_mtime(e.get(), mtime, 0);
    return WriteHeader(e.get(), path);
  }

  // Long by design: one directory's entries in sorted order with each type's header fields;
  // split, the reproducibility rules would be spread apart.
  absl::Status WalkDir(int dirfd, const std::string& rel) {
    ASSIGN_OR_RETURN(std::vector<Child> children, ListChildren(dirfd, rel));
    for (const Child& c : children) {
      std::string path = rel + c.tar_name;
      std::string full = absl::StrCat(root_, "/", rel, c.fs_name);
      if (c.whiteout) {
        RETURN_IF_ERROR(WriteMarker(path, Mtime(c.st)));
        continue;
      }
      std::unique_ptr<archive_entry, decltype(&archive_entry_free)> e(archive_entry_new(),
                                                                      archive_entry_free);
      struct archive_entry* entry = e.get();
      archive_entry_set_pathname(entry, path.c_str());
      archive_entry_set_uid(entry, c.st.st_uid);
      archive_entry_set_gid(entry, c.st.st_gid);
      archive_entry_set_perm(entry, c.st.st_mode & 07777);
      archive_entry_set_mtime(entry, Mtime(c.st), 0);
      RETURN_IF_ERROR(AddXattrs(full, entry));
      bool copy_data = false;
      mode_t type = c.st.st_mode & S_IFMT;
      if (type != S_IFDIR && c.st.st_nlink > 1) {
        auto key = std::make_pair(c.st.st_dev, c.st.st_ino);
        auto [it, inserted] = links_.emplace(key, path);
        if (!inserted) {
          archive_entry_set_filetype(entry, AE_IFREG);
          archive_entry_set_hardlink(entry, it->second.c_str());
          archive_entry_set_size(entry, 0);
          RETURN_IF_ERROR(WriteHeader(entry, path));
          continue;
        }
      }
      switch (type) {
        case S_IFDIR:
          archive_entry_set_filetype(entry, AE_IFDIR);
          break;
        case S_IFREG:
          archive_entry_set_filetype(entry, AE_IFREG);
          archive_entry_set_size(entry, c.st.st_size);
          copy_data = true;
          break;
        case S_IFLNK: {
          archive_entry_set_filetype(entry, AE_IFLNK);
          std::string target(c.st.st_size + 1, '\0');
          ssize_t n = ::readlinkat(dirfd, c.fs_name.c_str(), target.data(), target.size());
          if (n < 0) return ErrnoError(absl::StrCat("readlink ", full));
          target.resize(n);
          archive_entry_set_symlink(entry, target.c_str());
          break;
        }
        case S_IFCHR:
        case S_IFBLK:
          archive_entry_set_filetype(entry, type == S_IFCHR ? AE_IFCHR : AE_IFBLK);
          archive_entry_set_rdevmajor(entry, major(c.st.st_rdev));
          archive_entry_set_rdevminor(entry, minor(c.st.st_rdev));
          break;
        case S_IFIFO:
          archive_entry_set_filetype(entry, AE_IFIFO);
          break;
        default:
          continue;
      }
      RETURN_IF_ERROR(WriteHeader(entry, path));
      if (copy_data) RETURN_IF_ERROR(CopyData(dirfd, c, full));
      if (type == S_IFDIR) {
        if (options_.overlay_whiteouts && IsOpaque(full)) {
          RETURN_IF_ERROR(WriteMarker(absl::StrCat(path, "/", kOpaqueMarker), Mtime(c.st)));
        }
        UniqueFd sub(
            ::openat(dirfd, c.fs_name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (!sub.valid()) return ErrnoError(absl::StrCat("open ", full));
        RETURN_IF_ERROR(WalkDir(sub.get(), path + "/"));
      }
    }
    return absl::OkStatus();
  }

  absl::Status CopyData(int dirfd, const Child& c, const std::string& full) {
    UniqueFd fd(::openat(dirfd, c.fs_name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
    if (!fd.valid()) return ErrnoError(absl::StrCat("open ", full));
    ::posix_fadvise(fd.get(), 0, 0, POSIX_FADV_SEQUENTIAL);
    int64_t left = c.st.st_size;
    while (left > 0) {
      ssize_t n = ::read(fd.get(), buf_.data(), std::min<int64_t>(left, buf_.size()));
      if (n < 0) {
        if (errno == EINTR) continue;
        return ErrnoError(absl::StrCat("read ", full));
      }
      if (n == 0) {
        return absl::AbortedError(absl::StrCat(full, " shrank while it was being archived"));
      }
      if (archive_write_data(a_, buf_.data(), n) != n) {
        return ArchiveError(absl::StrCat("writing ", full));
      }
      left -= n;
    }
    return absl::OkStatus();
  }

  std::string root_;
  TarOptions options_;
  Writer* out_;
  std::vector<char> buf_;
  struct archive* a_ = nullptr;
  absl::Status sink_error_;
  std::map<std::pair<dev_t, ino_t>, std::string> links_;
};

}  // namespace

absl::Status WriteLayerTar(const std::string& dir, const TarOptions& options, Writer* out) {
  TarWalker walker(dir, options, out);
  return Annotate(walker.Run(), absl::StrCat("archiving ", dir));
}

}  // namespace kiln::layers
