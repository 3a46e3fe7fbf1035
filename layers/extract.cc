#include "layers/extract.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "base/file_util.h"
#include "base/id_map.h"
#include "base/in_root.h"
#include "base/status_macros.h"
#include "base/unique_fd.h"

namespace kiln::layers {
namespace {

constexpr char kWhiteoutPrefix[] = ".wh.";
constexpr char kOpaqueMarker[] = ".wh..wh..opq";
constexpr size_t kMaxPathLength = 4096;

struct DirTime {
  std::string path;
  struct timespec mtime;
};

class Extractor {
 public:
  Extractor(Reader& in, const std::string& target, const ExtractOptions& options)
      : in_(in), target_(target), options_(options), in_buf_(1 << 20), out_buf_(1 << 20) {}
  ~Extractor() {
    if (a_) archive_read_free(a_);
  }

  absl::StatusOr<ExtractStats> Run() {
    root_ = UniqueFd(::open(target_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!root_.valid()) return ErrnoError(absl::StrCat("open ", target_));
    a_ = archive_read_new();
    archive_read_support_filter_all(a_);
    archive_read_support_format_tar(a_);
    archive_read_support_format_empty(a_);
    if (archive_read_open(a_, this, nullptr, &Extractor::ReadCallback, nullptr) != ARCHIVE_OK) {
      return ArchiveError("opening layer");
    }
    while (true) {
      struct archive_entry* entry;
      int rc = archive_read_next_header(a_, &entry);
      if (rc == ARCHIVE_EOF) break;
      if (rc < ARCHIVE_WARN) return ArchiveError("reading layer");
      if (++stats_.entries > options_.max_entries) {
        return absl::ResourceExhaustedError(
            absl::StrCat("layer has more than ", options_.max_entries, " entries"));
      }
      const char* raw = archive_entry_pathname(entry);
      std::string name = raw ? raw : "";
      RETURN_IF_ERROR_CTX(ExtractEntry(entry, name), "layer member \"", name, "\"");
    }
    RETURN_IF_ERROR(source_error_);
    // Read the source to its end even though the archive has ended, so that a verifying
    // source checks the digest of every byte: trailing garbage is corruption too.
    while (true) {
      ASSIGN_OR_RETURN_CTX(size_t n, in_.Read(in_buf_.data(), in_buf_.size()),
                           "reading the end of the layer");
      if (n == 0) break;
    }
    // Directory times last: creating their children changed them.
    for (auto dt = dir_times_.rbegin(); dt != dir_times_.rend(); ++dt) {
      auto fd = OpenInRoot(root_.get(), dt->path, O_PATH | O_DIRECTORY | O_NOFOLLOW);
      if (!fd.ok()) continue;
      struct timespec times[2] = {dt->mtime, dt->mtime};
      ::utimensat(fd->get(), "", times, AT_EMPTY_PATH);
    }
    return stats_;
  }

 private:
  static la_ssize_t ReadCallback(struct archive* a, void* self_ptr, const void** out) {
    auto* self = static_cast<Extractor*>(self_ptr);
    auto n = self->in_.Read(self->in_buf_.data(), self->in_buf_.size());
    if (!n.ok()) {
      self->source_error_ = n.status();
      archive_set_error(a, EIO, "%s", std::string(n.status().message()).c_str());
      return -1;
    }
    *out = self->in_buf_.data();
    return static_cast<la_ssize_t>(*n);
  }

  absl::Status ArchiveError(absl::string_view what) {
    if (!source_error_.ok()) return source_error_;
    const char* msg = archive_error_string(a_);
    return absl::DataLossError(absl::StrCat(what, ": ", msg ? msg : "unknown libarchive error"));
  }

  // Long by design: one branch per tar entry type; each branch's safety checks (in-root
  // resolution, no following links) stay next to the syscall they guard.
  absl::Status ExtractEntry(struct archive_entry* entry, const std::string& name) {
    if (name.size() > kMaxPathLength) return absl::InvalidArgumentError("path too long");
    ASSIGN_OR_RETURN(std::string rel, CleanMemberPath(name));
    mode_t type = archive_entry_filetype(entry);
    const char* hardlink = archive_entry_hardlink(entry);
    if (rel.empty()) {
      // The root itself ("./"): only a directory entry makes sense, and it changes nothing.
      if (type != AE_IFDIR || hardlink) {
        return absl::InvalidArgumentError("entry would replace the extraction root");
      }
      return absl::OkStatus();
    }
    auto [parent_view, base_view] = SplitParent(rel);
    std::string parent(parent_view);
    std::string base(base_view);
    if (options_.whiteouts != WhiteoutMode::kLiteral && absl::StartsWith(base, kWhiteoutPrefix)) {
      return Whiteout(parent, base);
    }
    ASSIGN_OR_RETURN(UniqueFd dir, MkdirAllInRoot(root_.get(), parent));

    // Whatever is in the way goes, unless a directory meets a directory.
    bool is_dir = type == AE_IFDIR && hardlink == nullptr;
    struct stat existing;
    if (::fstatat(dir.get(), base.c_str(), &existing, AT_SYMLINK_NOFOLLOW) == 0 &&
        !(is_dir && S_ISDIR(existing.st_mode))) {
      RETURN_IF_ERROR(RemoveAllAt(dir.get(), base));
    }
    created_.insert(rel);

    if (hardlink != nullptr) return Hardlink(dir.get(), base, hardlink);
    UniqueFd fd;  // an open fd of the new entry where it has one, for metadata
    switch (type) {
      case AE_IFDIR: {
        if (::mkdirat(dir.get(), base.c_str(), 0700) != 0 && errno != EEXIST) {
          return ErrnoError("mkdir");
        }
        fd = UniqueFd(
            ::openat(dir.get(), base.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (!fd.valid()) return ErrnoError("open directory");
        const struct timespec mtime = {archive_entry_mtime(entry), archive_entry_mtime_nsec(entry)};
        dir_times_.push_back({rel, mtime});
        break;
      }
      case AE_IFREG: {
        fd = UniqueFd(::openat(dir.get(), base.c_str(),
                               O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
        if (!fd.valid()) return ErrnoError("create");
        RETURN_IF_ERROR(CopyData(fd.get()));
        break;
      }
      case AE_IFLNK: {
        const char* target = archive_entry_symlink(entry);
        if (target == nullptr || target[0] == '\0') {
          return absl::InvalidArgumentError("symlink without a target");
        }
        if (std::strlen(target) > kMaxPathLength) {
          return absl::InvalidArgumentError("symlink target too long");
        }
        // The link's text is stored as is: it is only ever resolved inside the root.
        if (::symlinkat(target, dir.get(), base.c_str()) != 0) return ErrnoError("symlink");
        break;
      }
      case AE_IFCHR:
      case AE_IFBLK: {
        if (options_.devices == DevicePolicy::kReject) {
          return absl::InvalidArgumentError("device nodes are not allowed in this layer");
        }
        if (options_.devices == DevicePolicy::kSkip) {
          created_.erase(rel);
          ++stats_.skipped_devices;
          return absl::OkStatus();
        }
        dev_t dev = makedev(archive_entry_rdevmajor(entry), archive_entry_rdevminor(entry));
        if (::mknodat(dir.get(), base.c_str(), (type == AE_IFCHR ? S_IFCHR : S_IFBLK) | 0600,
                      dev) != 0) {
          return ErrnoError("mknod");
        }
        break;
      }
      case AE_IFIFO:
        if (::mkfifoat(dir.get(), base.c_str(), 0600) != 0) return ErrnoError("mkfifo");
        break;
      default:
        return absl::InvalidArgumentError(absl::StrCat("unsupported entry type ", type));
    }
    return ApplyMetadata(entry, dir.get(), base, fd.get(), type);
  }

  absl::Status CopyData(int fd) {
    while (true) {
      la_ssize_t n = archive_read_data(a_, out_buf_.data(), out_buf_.size());
      if (n < 0) return ArchiveError("reading file data");
      if (n == 0) return absl::OkStatus();
      stats_.bytes += n;
      if (stats_.bytes > options_.max_total_bytes) {
        return absl::ResourceExhaustedError(absl::StrCat("layer content exceeds the limit of ",
                                                         options_.max_total_bytes, " bytes"));
      }
      RETURN_IF_ERROR(WriteAll(fd, absl::string_view(out_buf_.data(), n)));
    }
  }

  absl::Status Hardlink(int dir, const std::string& base, const char* hardlink) {
    auto target_rel = CleanMemberPath(hardlink);
    if (!target_rel.ok() || target_rel->empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("hardlink target \"", hardlink, "\" is outside the layer"));
    }
    auto [tparent, tbase] = SplitParent(*target_rel);
    ASSIGN_OR_RETURN_CTX(UniqueFd tdir, OpenInRoot(root_.get(), tparent, O_PATH | O_DIRECTORY),
                         "hardlink target \"", hardlink, "\"");
    // linkat without AT_SYMLINK_FOLLOW links a symlink itself, never what it points to.
    if (::linkat(tdir.get(), std::string(tbase).c_str(), dir, base.c_str(), 0) != 0) {
      return ErrnoError(absl::StrCat("hardlink to \"", hardlink, "\""));
    }
    return absl::OkStatus();
  }

  absl::Status ApplyMetadata(struct archive_entry* entry, int dir, const std::string& base, int fd,
                             mode_t type) {
    if (options_.preserve_owner) {
      if (::fchownat(dir, base.c_str(), archive_entry_uid(entry), archive_entry_gid(entry),
                     AT_SYMLINK_NOFOLLOW) != 0) {
        // In a user namespace that maps a single id the owner cannot be kept: it stays root.
        if (errno != EINVAL || InInitialUserNamespace()) return ErrnoError("chown");
        ++stats_.unmapped_owners;
      }
    }
    if (type == AE_IFLNK) {
      struct timespec times[2] = {{0, UTIME_OMIT},
                                  {archive_entry_mtime(entry), archive_entry_mtime_nsec(entry)}};
      ::utimensat(dir, base.c_str(), times, AT_SYMLINK_NOFOLLOW);
      return absl::OkStatus();
    }
    // Set after chown, which clears set-id bits. Through an fd where there is one, so a
    // symlink swapped in cannot redirect it; devices and fifos were just made by us.
    mode_t perm = archive_entry_perm(entry) & 07777;
    int rc = fd >= 0 ? ::fchmod(fd, perm) : ::fchmodat(dir, base.c_str(), perm, 0);
    if (rc != 0) return ErrnoError("chmod");
    if (fd >= 0) RETURN_IF_ERROR(SetXattrs(entry, fd));
    if (type != AE_IFDIR) {
      struct timespec times[2] = {{archive_entry_mtime(entry), archive_entry_mtime_nsec(entry)},
                                  {archive_entry_mtime(entry), archive_entry_mtime_nsec(entry)}};
      if (fd >= 0) {
        ::futimens(fd, times);
      } else {
        ::utimensat(dir, base.c_str(), times, AT_SYMLINK_NOFOLLOW);
      }
    }
    return absl::OkStatus();
  }

  absl::Status SetXattrs(struct archive_entry* entry, int fd) {
    archive_entry_xattr_reset(entry);
    const char* name;
    const void* value;
    size_t size;
    while (archive_entry_xattr_next(entry, &name, &value, &size) == ARCHIVE_OK) {
      if (absl::StartsWith(name, "trusted.overlay.") || absl::StartsWith(name, "user.overlay.")) {
        continue;  // would change how overlayfs reads the snapshot
      }
      if (::fsetxattr(fd, name, value, size, 0) != 0 && errno != EPERM && errno != ENOTSUP) {
        return ErrnoError(absl::StrCat("set xattr ", name));
      }
    }
    return absl::OkStatus();
  }

  // Applies ".wh.NAME" (NAME is removed from the lower layers) or ".wh..wh..opq" (the lower
  // layers' content of the directory is hidden).
  absl::Status Whiteout(const std::string& parent, const std::string& base) {
    if (base == kOpaqueMarker) {
      ASSIGN_OR_RETURN(UniqueFd dir, MkdirAllInRoot(root_.get(), parent));
      if (options_.whiteouts == WhiteoutMode::kOverlay) {
        UniqueFd d(::openat(dir.get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        if (!d.valid() ||
            ::fsetxattr(d.get(), (OverlayXattrPrefix() + "opaque").c_str(), "y", 1, 0) != 0) {
          return ErrnoError("mark directory opaque");
        }
        return absl::OkStatus();
      }
      return RemoveLowerChildren(parent, dir.get());
    }
    if (absl::StartsWith(base, ".wh..wh.")) return absl::OkStatus();  // AUFS metadata
    std::string victim = base.substr(std::strlen(kWhiteoutPrefix));
    if (victim.empty() || victim == "." || victim == "..") {
      return absl::InvalidArgumentError(absl::StrCat("invalid whiteout name \"", base, "\""));
    }
    std::string victim_rel = parent.empty() ? victim : absl::StrCat(parent, "/", victim);
    if (options_.whiteouts == WhiteoutMode::kOverlay) {
      ASSIGN_OR_RETURN(UniqueFd dir, MkdirAllInRoot(root_.get(), parent));
      RETURN_IF_ERROR(RemoveAllAt(dir.get(), victim));
      if (::mknodat(dir.get(), victim.c_str(), S_IFCHR | 0, makedev(0, 0)) != 0) {
        return ErrnoError("create overlay whiteout");
      }
      return absl::OkStatus();
    }
    if (created_.contains(victim_rel)) return absl::OkStatus();  // only lower layers are hidden
    auto dir = OpenInRoot(root_.get(), parent, O_PATH | O_DIRECTORY);
    if (!dir.ok()) return absl::OkStatus();  // nothing there to hide
    return RemoveAllAt(dir->get(), victim);
  }

  absl::Status RemoveLowerChildren(const std::string& parent, int dir_path_fd) {
    UniqueFd fd(::openat(dir_path_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!fd.valid()) return ErrnoError("open directory");
    DIR* d = ::fdopendir(fd.get());
    if (d == nullptr) return ErrnoError("list directory");
    fd.Release();
    std::vector<std::string> doomed;
    while (struct dirent* e = ::readdir(d)) {
      absl::string_view child = e->d_name;
      if (child == "." || child == "..") continue;
      std::string rel = parent.empty() ? std::string(child) : absl::StrCat(parent, "/", child);
      if (!created_.contains(rel)) doomed.emplace_back(child);
    }
    absl::Status status;
    for (const std::string& child : doomed) {
      status = RemoveAllAt(::dirfd(d), child);
      if (!status.ok()) break;
    }
    ::closedir(d);
    return status;
  }

  Reader& in_;
  std::string target_;
  ExtractOptions options_;
  std::vector<char> in_buf_;   // compressed bytes handed to libarchive; it reads them later
  std::vector<char> out_buf_;  // file content out of libarchive
  struct archive* a_ = nullptr;
  UniqueFd root_;
  absl::Status source_error_;
  ExtractStats stats_;
  absl::flat_hash_set<std::string> created_;
  std::vector<DirTime> dir_times_;
};

}  // namespace

ExtractOptions::ExtractOptions() : preserve_owner(::geteuid() == 0) {}

absl::StatusOr<ExtractStats> ExtractLayer(Reader& in, const std::string& target,
                                          const ExtractOptions& options) {
  Extractor e(in, target, options);
  auto stats = e.Run();
  if (!stats.ok()) return Annotate(stats.status(), absl::StrCat("extracting into ", target));
  return stats;
}

}  // namespace kiln::layers
