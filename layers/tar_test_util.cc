#include "layers/tar_test_util.h"

#include <archive.h>
#include <archive_entry.h>

#include <cstdlib>

namespace kiln::layers::testing {

std::string MakeTar(const std::vector<TarEntry>& entries) {
  struct archive* a = archive_write_new();
  archive_write_set_format_pax_restricted(a);
  std::string out;
  archive_write_open2(
      a, &out, nullptr,
      [](struct archive*, void* ctx, const void* buf, size_t n) -> la_ssize_t {
        static_cast<std::string*>(ctx)->append(static_cast<const char*>(buf), n);
        return static_cast<la_ssize_t>(n);
      },
      nullptr, nullptr);
  for (const TarEntry& e : entries) {
    struct archive_entry* ae = archive_entry_new();
    archive_entry_set_pathname(ae, e.path.c_str());
    archive_entry_set_perm(ae, e.mode);
    archive_entry_set_uid(ae, e.uid);
    archive_entry_set_gid(ae, e.gid);
    archive_entry_set_mtime(ae, e.mtime, 0);
    for (const auto& [k, v] : e.xattrs) {
      archive_entry_xattr_add_entry(ae, k.c_str(), v.data(), v.size());
    }
    switch (e.type) {
      case TarEntry::kFile:
        archive_entry_set_filetype(ae, AE_IFREG);
        archive_entry_set_size(ae, e.data.size());
        break;
      case TarEntry::kDir:
        archive_entry_set_filetype(ae, AE_IFDIR);
        break;
      case TarEntry::kSymlink:
        archive_entry_set_filetype(ae, AE_IFLNK);
        archive_entry_set_symlink(ae, e.target.c_str());
        break;
      case TarEntry::kHardlink:
        archive_entry_set_filetype(ae, AE_IFREG);
        archive_entry_set_hardlink(ae, e.target.c_str());
        break;
      case TarEntry::kCharDev:
        archive_entry_set_filetype(ae, AE_IFCHR);
        archive_entry_set_rdevmajor(ae, e.rdev_major);
        archive_entry_set_rdevminor(ae, e.rdev_minor);
        break;
      case TarEntry::kFifo:
        archive_entry_set_filetype(ae, AE_IFIFO);
        break;
    }
    if (archive_write_header(a, ae) < ARCHIVE_WARN) std::abort();
    if (e.type == TarEntry::kFile && !e.data.empty()) {
      archive_write_data(a, e.data.data(), e.data.size());
    }
    archive_entry_free(ae);
  }
  archive_write_close(a);
  archive_write_free(a);
  return out;
}

std::vector<TarEntry> ReadTar(const std::string& tar) {
  struct archive* a = archive_read_new();
  archive_read_support_filter_all(a);
  archive_read_support_format_tar(a);
  archive_read_support_format_empty(a);
  std::vector<TarEntry> out;
  if (archive_read_open_memory(a, tar.data(), tar.size()) != ARCHIVE_OK) std::abort();
  struct archive_entry* ae;
  while (archive_read_next_header(a, &ae) == ARCHIVE_OK) {
    TarEntry e;
    e.path = archive_entry_pathname(ae);
    e.mode = archive_entry_perm(ae);
    e.uid = archive_entry_uid(ae);
    e.gid = archive_entry_gid(ae);
    e.mtime = archive_entry_mtime(ae);
    if (archive_entry_hardlink(ae)) {
      e.type = TarEntry::kHardlink;
      e.target = archive_entry_hardlink(ae);
    } else {
      switch (archive_entry_filetype(ae)) {
        case AE_IFDIR:
          e.type = TarEntry::kDir;
          break;
        case AE_IFLNK:
          e.type = TarEntry::kSymlink;
          e.target = archive_entry_symlink(ae);
          break;
        case AE_IFCHR:
          e.type = TarEntry::kCharDev;
          break;
        case AE_IFIFO:
          e.type = TarEntry::kFifo;
          break;
        default:
          e.type = TarEntry::kFile;
      }
    }
    archive_entry_xattr_reset(ae);
    const char* name;
    const void* value;
    size_t size;
    while (archive_entry_xattr_next(ae, &name, &value, &size) == ARCHIVE_OK) {
      e.xattrs[name] = std::string(static_cast<const char*>(value), size);
    }
    char buf[65536];
    la_ssize_t n;
    while ((n = archive_read_data(a, buf, sizeof buf)) > 0) e.data.append(buf, n);
    out.push_back(std::move(e));
  }
  archive_read_free(a);
  return out;
}

}  // namespace kiln::layers::testing
