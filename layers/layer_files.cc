#include "layers/layer_files.h"

#include <archive.h>
#include <archive_entry.h>

#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "base/status_macros.h"
#include "oci/digest.h"

namespace kiln::layers {
namespace {

constexpr size_t kMaxEntries = 10'000'000;

// "./a//b/" -> "a/b"; empty for "." and for paths with "..".
std::string Clean(absl::string_view raw) {
  std::vector<std::string> parts;
  for (absl::string_view p : absl::StrSplit(raw, '/', absl::SkipEmpty())) {
    if (p == ".") continue;
    if (p == "..") return "";
    parts.emplace_back(p);
  }
  return absl::StrJoin(parts, "/");
}

struct Source {
  Reader* in;
  std::vector<char> buf = std::vector<char>(1 << 20);
  absl::Status error;
};

la_ssize_t ReadCallback(struct archive* a, void* p, const void** out) {
  auto* src = static_cast<Source*>(p);
  absl::StatusOr<size_t> n = src->in->Read(src->buf.data(), src->buf.size());
  if (!n.ok()) {
    src->error = n.status();
    archive_set_error(a, EIO, "%s", std::string(n.status().message()).c_str());
    return -1;
  }
  *out = src->buf.data();
  return static_cast<la_ssize_t>(*n);
}

// Streams the member's data looking for `probe.marker`; the bytes from it (probe.keep of
// them) when found, else empty.
absl::StatusOr<std::string> Probe(struct archive* a, const LayerProbe& probe) {
  std::string window;  // the tail of what was read, so a marker across reads is found
  std::string found;
  char buf[1 << 16];
  for (;;) {
    la_ssize_t n = archive_read_data(a, buf, sizeof buf);
    if (n < 0) return absl::DataLossError("reading a layer member");
    if (n == 0) return found;
    absl::string_view chunk(buf, static_cast<size_t>(n));
    if (!found.empty()) {
      if (found.size() < probe.keep) {
        absl::StrAppend(&found, chunk.substr(0, probe.keep - found.size()));
      }
      continue;
    }
    absl::StrAppend(&window, chunk);
    size_t at = window.find(probe.marker);
    if (at != std::string::npos) {
      found = window.substr(at, probe.keep);
      continue;
    }
    if (window.size() > probe.marker.size()) window.erase(0, window.size() - probe.marker.size());
  }
}

}  // namespace

absl::StatusOr<LayerFiles> ReadLayerFiles(Reader& layer,
                                          const std::function<bool(absl::string_view)>& wanted,
                                          size_t max_file_size, const LayerProbe* probe) {
  Source src;
  src.in = &layer;
  struct archive* a = archive_read_new();
  archive_read_support_filter_all(a);
  archive_read_support_format_tar(a);
  archive_read_support_format_empty(a);
  auto fail = [&](absl::string_view what) {
    absl::Status s =
        !src.error.ok()
            ? src.error
            : absl::DataLossError(absl::StrCat(
                  what, ": ",
                  archive_error_string(a) ? archive_error_string(a) : "unknown libarchive error"));
    archive_read_free(a);
    return s;
  };
  if (archive_read_open(a, &src, nullptr, &ReadCallback, nullptr) != ARCHIVE_OK) {
    return fail("opening layer");
  }
  LayerFiles out;
  size_t entries = 0;
  for (;;) {
    struct archive_entry* e;
    int rc = archive_read_next_header(a, &e);
    if (rc == ARCHIVE_EOF) break;
    if (rc < ARCHIVE_WARN) return fail("reading layer");
    if (++entries > kMaxEntries) {
      archive_read_free(a);
      return absl::ResourceExhaustedError("layer has too many entries");
    }
    const char* raw = archive_entry_pathname(e);
    std::string path = Clean(raw ? raw : "");
    if (path.empty()) continue;
    size_t slash = path.rfind('/');
    std::string dir = slash == std::string::npos ? "" : path.substr(0, slash);
    std::string base = slash == std::string::npos ? path : path.substr(slash + 1);
    if (base == ".wh..wh..opq") {
      out.opaque_dirs.push_back(dir);
      continue;
    }
    if (absl::StartsWith(base, ".wh.")) {
      out.deleted.push_back(dir.empty() ? base.substr(4) : absl::StrCat(dir, "/", base.substr(4)));
      continue;
    }
    if (archive_entry_filetype(e) != AE_IFREG || archive_entry_hardlink(e) != nullptr) continue;
    if (!wanted(path)) {
      if (probe != nullptr && (archive_entry_perm(e) & 0111) != 0 &&
          archive_entry_size(e) > static_cast<la_int64_t>(probe->marker.size())) {
        absl::StatusOr<std::string> found = Probe(a, *probe);
        if (!found.ok()) return fail(absl::StrCat("reading ", path));
        out.probed[path] = *std::move(found);
      }
      continue;
    }
    if (archive_entry_size(e) < 0 || static_cast<size_t>(archive_entry_size(e)) > max_file_size) {
      archive_read_free(a);
      return absl::ResourceExhaustedError(
          absl::StrCat(path, " is larger than ", max_file_size, " bytes"));
    }
    std::string content(static_cast<size_t>(archive_entry_size(e)), '\0');
    size_t got = 0;
    while (got < content.size()) {
      la_ssize_t n = archive_read_data(a, content.data() + got, content.size() - got);
      if (n < 0) return fail(absl::StrCat("reading ", path));
      if (n == 0) break;
      got += static_cast<size_t>(n);
    }
    content.resize(got);
    out.files[path] = std::move(content);
  }
  archive_read_free(a);
  RETURN_IF_ERROR(src.error);
  // To the end, so a verifying reader checks every byte.
  for (;;) {
    ASSIGN_OR_RETURN(size_t n, layer.Read(src.buf.data(), src.buf.size()));
    if (n == 0) break;
  }
  return out;
}

namespace {

char TypeOf(struct archive_entry* e) {
  if (archive_entry_hardlink(e) != nullptr) return 'h';
  switch (archive_entry_filetype(e)) {
    case AE_IFDIR:
      return 'd';
    case AE_IFLNK:
      return 'l';
    case AE_IFCHR:
      return 'c';
    case AE_IFBLK:
      return 'b';
    case AE_IFIFO:
      return 'p';
    default:
      return 'f';
  }
}

}  // namespace

absl::StatusOr<std::map<std::string, LayerEntry>> ListLayer(Reader& layer, size_t max_text) {
  Source src;
  src.in = &layer;
  struct archive* a = archive_read_new();
  archive_read_support_filter_all(a);
  archive_read_support_format_tar(a);
  archive_read_support_format_empty(a);
  auto fail = [&](absl::string_view what) {
    absl::Status s =
        !src.error.ok()
            ? src.error
            : absl::DataLossError(absl::StrCat(
                  what, ": ",
                  archive_error_string(a) ? archive_error_string(a) : "unknown libarchive error"));
    archive_read_free(a);
    return s;
  };
  if (archive_read_open(a, &src, nullptr, &ReadCallback, nullptr) != ARCHIVE_OK) {
    return fail("opening layer");
  }
  std::map<std::string, LayerEntry> out;
  std::vector<char> buf(1 << 16);
  for (;;) {
    struct archive_entry* e;
    int rc = archive_read_next_header(a, &e);
    if (rc == ARCHIVE_EOF) break;
    if (rc < ARCHIVE_WARN) return fail("reading layer");
    if (out.size() >= kMaxEntries) {
      archive_read_free(a);
      return absl::ResourceExhaustedError("layer has too many entries");
    }
    const char* raw = archive_entry_pathname(e);
    std::string path = Clean(raw ? raw : "");
    if (path.empty()) continue;
    size_t slash = path.rfind('/');
    std::string dir = slash == std::string::npos ? "" : path.substr(0, slash);
    std::string base = slash == std::string::npos ? path : path.substr(slash + 1);
    LayerEntry entry;
    if (base == ".wh..wh..opq") {
      entry.type = 'o';
      out[dir.empty() ? "." : dir + "/.wh..wh..opq"] = std::move(entry);
      continue;
    }
    if (absl::StartsWith(base, ".wh.")) {
      entry.type = 'w';
      out[dir.empty() ? base.substr(4) : absl::StrCat(dir, "/", base.substr(4))] = std::move(entry);
      continue;
    }
    entry.type = TypeOf(e);
    entry.mode = archive_entry_perm(e) | (archive_entry_mode(e) & 07000);
    entry.uid = archive_entry_uid(e);
    entry.gid = archive_entry_gid(e);
    entry.mtime = archive_entry_mtime(e);
    entry.mtime_nsec = archive_entry_mtime_nsec(e);
    if (entry.type == 'c' || entry.type == 'b') {
      entry.rdev_major = archive_entry_rdevmajor(e);
      entry.rdev_minor = archive_entry_rdevminor(e);
    }
    if (entry.type == 'h') {
      entry.link = Clean(archive_entry_hardlink(e));
    } else if (entry.type == 'l' && archive_entry_symlink(e) != nullptr) {
      entry.link = archive_entry_symlink(e);
    }
    archive_entry_xattr_reset(e);
    const char* name;
    const void* value;
    size_t value_size;
    while (archive_entry_xattr_next(e, &name, &value, &value_size) == ARCHIVE_OK) {
      entry.xattrs[name] = std::string(static_cast<const char*>(value), value_size);
    }
    if (entry.type == 'f') {
      oci::Sha256 hash;
      std::string text;
      bool keep =
          archive_entry_size(e) >= 0 && static_cast<size_t>(archive_entry_size(e)) <= max_text;
      for (;;) {
        la_ssize_t n = archive_read_data(a, buf.data(), buf.size());
        if (n < 0) return fail(absl::StrCat("reading ", path));
        if (n == 0) break;
        absl::string_view chunk(buf.data(), static_cast<size_t>(n));
        hash.Update(chunk);
        entry.size += n;
        if (keep) {
          if (chunk.find('\0') != absl::string_view::npos || text.size() + n > max_text) {
            keep = false;
            text.clear();
          } else {
            absl::StrAppend(&text, chunk);
          }
        }
      }
      entry.sha256 = hash.Finish().hex();
      if (keep) entry.text = std::move(text);
    }
    out[path] = std::move(entry);
  }
  archive_read_free(a);
  RETURN_IF_ERROR(src.error);
  for (;;) {
    ASSIGN_OR_RETURN(size_t n, layer.Read(src.buf.data(), src.buf.size()));
    if (n == 0) break;
  }
  return out;
}

}  // namespace kiln::layers
