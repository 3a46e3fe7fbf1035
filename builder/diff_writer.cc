#include "builder/diff_writer.h"

#include <fcntl.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "base/file_util.h"
#include "base/id_map.h"
#include "base/io.h"
#include "base/status_macros.h"
#include "base/unique_fd.h"
#include "builder/image_path.h"

namespace kiln::builder {

DiffWriter DiffWriter::KeepingOwners() const {
  Options o = o_;
  o.keep_owners = true;
  return DiffWriter(std::move(o));
}

absl::StatusOr<DiffWriter::Dir> DiffWriter::PlaceDir(const std::string& dir) const {
  if (dir == "/" || dir.empty()) return Dir{"/", true};
  if (auto it = dirs_.find(dir); it != dirs_.end()) return it->second;
  ASSIGN_OR_RETURN(Dir parent, PlaceDir(Dirname(dir)));
  Dir place{JoinPath(parent.path, dir.substr(dir.rfind('/') + 1)), false};
  if (parent.in_image) {  // below a directory the image lacks, it has nothing
    auto e = o_.image->Lookup(place.path);
    if (e && S_ISLNK(e->st.st_mode)) {
      ASSIGN_OR_RETURN(place.path, o_.image->Resolve(place.path, /*follow_last=*/true));
      e = o_.image->Lookup(place.path);
    }
    // A file (or a link to one) where a directory must be is an error, as in BuildKit;
    // the image's file is not replaced.
    if (e && !S_ISDIR(e->st.st_mode)) {
      return absl::FailedPreconditionError(absl::StrCat("mkdir ", place.path, ": not a directory"));
    }
    place.in_image = e.has_value();
  }
  return dirs_[dir] = place;
}

absl::StatusOr<std::string> DiffWriter::Place(const std::string& target, bool is_dir) const {
  if (is_dir) {
    ASSIGN_OR_RETURN(Dir d, PlaceDir(target));
    return d.path;
  }
  ASSIGN_OR_RETURN(Dir parent, PlaceDir(Dirname(target)));
  return JoinPath(parent.path, target.substr(target.rfind('/') + 1));
}

absl::Status DiffWriter::OwnEntry(const std::string& path, const context::ContextEntry& e) const {
  if (o_.owner || !o_.keep_owners) return Own(path);
  ResolvedUser as_source;
  as_source.uid = e.uid;
  as_source.gid = e.gid;
  return OwnAs(path, as_source);
}

absl::Status DiffWriter::OwnAs(const std::string& path,
                               const std::optional<ResolvedUser>& who) const {
  uid_t uid = who ? who->uid : 0;
  gid_t gid = who ? who->gid : 0;
  if (::lchown(path.c_str(), uid, gid) != 0) {
    int err = errno;
    RETURN_IF_ERROR_CTX(CheckIdsMapped(uid, gid), "--chown");
    return ErrnoError(absl::StrCat("chown ", path), err);
  }
  return absl::OkStatus();
}

absl::Status DiffWriter::Parents(const std::string& placed) const {
  std::string path = o_.diff;
  std::string in_image;
  std::string parent = Dirname(placed);
  for (absl::string_view part : absl::StrSplit(parent, '/', absl::SkipEmpty())) {
    absl::StrAppend(&path, "/", part);
    absl::StrAppend(&in_image, "/", part);
    if (PathExists(path)) continue;
    auto e = o_.image->Lookup(in_image);
    if (::mkdir(path.c_str(), 0755) != 0) return ErrnoError("mkdir " + path);
    if (e && S_ISDIR(e->st.st_mode)) {
      ResolvedUser as_in_image;
      as_in_image.uid = e->st.st_uid;
      as_in_image.gid = e->st.st_gid;
      RETURN_IF_ERROR(OwnAs(path, as_in_image));
      if (::chmod(path.c_str(), e->st.st_mode & 07777) != 0) return ErrnoError("chmod " + path);
    } else {
      RETURN_IF_ERROR(Own(path));
      // An octal --chmod is also the mode of the directories the copy creates.
      if (o_.chmod && o_.chmod->octal() && ::chmod(path.c_str(), *o_.chmod->octal()) != 0) {
        return ErrnoError("chmod " + path);
      }
    }
  }
  return absl::OkStatus();
}

mode_t DiffWriter::ModeOf(mode_t own, bool is_dir) const {
  return o_.chmod ? o_.chmod->Apply(own, is_dir) : own & 07777;
}

absl::Status DiffWriter::MakeDir(const std::string& target, mode_t mode, bool keep_source_owner,
                                 const context::ContextEntry* source) const {
  ASSIGN_OR_RETURN(std::string placed, Place(target, /*is_dir=*/true));
  std::string path = o_.diff + placed;
  RETURN_IF_ERROR(Parents(placed));
  if (PathExists(path)) return absl::OkStatus();  // made by this step already
  if (auto e = o_.image->Lookup(placed); e && S_ISDIR(e->st.st_mode)) {
    if (::mkdir(path.c_str(), 0755) != 0) return ErrnoError("mkdir " + path);
    ResolvedUser as_in_image;
    as_in_image.uid = e->st.st_uid;
    as_in_image.gid = e->st.st_gid;
    RETURN_IF_ERROR(OwnAs(path, as_in_image));
    if (::chmod(path.c_str(), e->st.st_mode & 07777) != 0) return ErrnoError("chmod " + path);
    return absl::OkStatus();
  }
  if (::mkdir(path.c_str(), 0755) != 0) return ErrnoError("mkdir " + path);
  if (::chmod(path.c_str(), ModeOf(mode, true)) != 0) return ErrnoError("chmod " + path);
  return keep_source_owner && source != nullptr ? OwnEntry(path, *source) : Own(path);
}

absl::Status DiffWriter::WriteData(const std::string& target, const std::string& data,
                                   mode_t mode) const {
  ASSIGN_OR_RETURN(std::string placed, Place(target, /*is_dir=*/false));
  RETURN_IF_ERROR(Parents(placed));
  std::string path = o_.diff + placed;
  RETURN_IF_ERROR(WriteFileAtomic(path, data, ModeOf(mode, false)));
  return Own(path);
}

absl::Status DiffWriter::CopyFile(const std::string& target, const std::string& from, mode_t mode,
                                  std::optional<int64_t> mtime) const {
  ASSIGN_OR_RETURN(std::string placed, Place(target, /*is_dir=*/false));
  RETURN_IF_ERROR(Parents(placed));
  std::string path = o_.diff + placed;
  (void)RemoveAll(path);
  UniqueFd in(::open(from.c_str(), O_RDONLY | O_CLOEXEC));
  if (!in.valid()) return ErrnoError("open " + from);
  UniqueFd out(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (!out.valid()) return ErrnoError("create " + path);
  FdReader reader(in.get());
  FdWriter writer(out.get());
  RETURN_IF_ERROR(Copy(reader, writer).status());
  if (::fchmod(out.get(), ModeOf(mode, false)) != 0) return ErrnoError("chmod " + path);
  if (mtime) {
    struct timespec times[2] = {{*mtime, 0}, {*mtime, 0}};
    if (::futimens(out.get(), times) != 0) return ErrnoError("futimens " + path);
  }
  return Own(path);
}

absl::Status DiffWriter::CopyEntry(const context::BuildContext& ctx, const context::ContextEntry& e,
                                   const std::string& target) const {
  if (S_ISDIR(e.mode)) return MakeDir(target, e.mode & 07777, /*keep_source_owner=*/true, &e);
  ASSIGN_OR_RETURN(std::string placed, Place(target, /*is_dir=*/false));
  std::string path = o_.diff + placed;
  RETURN_IF_ERROR(Parents(placed));
  (void)RemoveAll(path);
  if (S_ISLNK(e.mode)) {
    if (::symlink(e.link_target.c_str(), path.c_str()) != 0) return ErrnoError("symlink " + path);
    return OwnEntry(path, e);
  }
  if (S_ISSOCK(e.mode)) {  // a socket becomes an empty file (a tar cannot hold one)
    RETURN_IF_ERROR(WriteFileAtomic(path, "", ModeOf(e.mode, false)));
    return OwnEntry(path, e);
  }
  if (!S_ISREG(e.mode)) return absl::OkStatus();  // devices, fifos: not copied
  ASSIGN_OR_RETURN(UniqueFd in, ctx.OpenEntry(e));
  struct stat st;
  if (::fstat(in.get(), &st) != 0) return ErrnoError("stat " + e.path);
  if (LinkInstead(in.get(), st, e.path, path)) return absl::OkStatus();
  UniqueFd out(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (!out.valid()) return ErrnoError("create " + path);
  FdReader from(in.get());
  FdWriter to(out.get());
  RETURN_IF_ERROR_CTX(Copy(from, to).status(), "copying ", e.path);
  RETURN_IF_ERROR(OwnEntry(path, e));
  if (::fchmod(out.get(), ModeOf(e.mode, false)) != 0) return ErrnoError("chmod " + path);
  // The source's modification time, as Docker keeps it (the layer clamps it).
  const struct timespec times[2] = {st.st_mtim, st.st_mtim};
  if (::futimens(out.get(), times) != 0) return ErrnoError("set mtime of " + path);
  return absl::OkStatus();
}

// The diff only has to hold what the layer's tar will read. When the source file already
// has exactly the metadata the copy would get (owner, mode, no xattrs), a hard link to it
// (same file system) stands in for copying its bytes. Nothing writes through such a link:
// replaced targets are unlinked first, and the diff is removed after the commit. Each
// source inode is linked once, so the tar never sees hard links the copy would not have.
bool DiffWriter::LinkInstead(int fd, const struct stat& st, const std::string& source_path,
                             const std::string& path) const {
  uid_t uid = o_.owner ? o_.owner->uid : o_.keep_owners ? st.st_uid : 0;
  gid_t gid = o_.owner ? o_.owner->gid : o_.keep_owners ? st.st_gid : 0;
  if (o_.chmod || st.st_uid != uid || st.st_gid != gid) return false;
  if (::flistxattr(fd, nullptr, 0) != 0) return false;  // xattrs (or cannot tell)
  auto inode = std::make_pair(st.st_dev, st.st_ino);
  if (linked_.contains(inode)) return false;
  std::string proc = absl::StrCat("/proc/self/fd/", fd);
  if (::linkat(AT_FDCWD, proc.c_str(), AT_FDCWD, path.c_str(), AT_SYMLINK_FOLLOW) != 0) {
    return false;  // another file system, or not allowed: copy
  }
  linked_.insert(inode);
  linked_files_.emplace_back(source_path, st);
  return true;
}

}  // namespace kiln::builder
