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

// A layer tar read member by member: paths cleaned (members with ".." skipped), whiteouts
// and opaque markers told apart, at most kMaxEntries members, and the input read to its end
// (so a verifying reader checks every byte).
class LayerArchive {
 public:
  struct Member {
    struct archive_entry* entry = nullptr;
    std::string path;                    // cleaned
    std::string dir;                     // of `path`, "" at the top
    bool opaque = false;                 // ".wh..wh..opq" in `dir`
    std::optional<std::string> deletes;  // a whiteout: the path it deletes
  };

  explicit LayerArchive(Reader& in) : a_(archive_read_new()) {
    src_.in = &in;
    archive_read_support_filter_all(a_);
    archive_read_support_format_tar(a_);
    archive_read_support_format_empty(a_);
  }
  ~LayerArchive() { archive_read_free(a_); }
  LayerArchive(const LayerArchive&) = delete;
  LayerArchive& operator=(const LayerArchive&) = delete;

  struct archive* get() {
    return a_;
  }

  absl::Status Open() {
    if (archive_read_open(a_, &src_, nullptr, &ReadCallback, nullptr) != ARCHIVE_OK) {
      return Error("opening layer");
    }
    return absl::OkStatus();
  }

  // The next member; nullopt at the end.
  absl::StatusOr<std::optional<Member>> Next() {
    for (;;) {
      Member m;
      int rc = archive_read_next_header(a_, &m.entry);
      if (rc == ARCHIVE_EOF) return std::nullopt;
      if (rc < ARCHIVE_WARN) return Error("reading layer");
      if (++entries_ > kMaxEntries) {
        return absl::ResourceExhaustedError("layer has too many entries");
      }
      const char* raw = archive_entry_pathname(m.entry);
      m.path = Clean(raw ? raw : "");
      if (m.path.empty()) continue;
      size_t slash = m.path.rfind('/');
      m.dir = slash == std::string::npos ? "" : m.path.substr(0, slash);
      std::string base = slash == std::string::npos ? m.path : m.path.substr(slash + 1);
      if (base == ".wh..wh..opq") {
        m.opaque = true;
      } else if (absl::StartsWith(base, ".wh.")) {
        m.deletes = m.dir.empty() ? base.substr(4) : absl::StrCat(m.dir, "/", base.substr(4));
      }
      return m;
    }
  }

  // The error of what failed: the input's own, else libarchive's.
  absl::Status Error(absl::string_view what) {
    if (!src_.error.ok()) return src_.error;
    const char* e = archive_error_string(a_);
    return absl::DataLossError(absl::StrCat(what, ": ", e ? e : "unknown libarchive error"));
  }

  // Reads what libarchive left of the input.
  absl::Status Drain() {
    RETURN_IF_ERROR(src_.error);
    for (;;) {
      ASSIGN_OR_RETURN(size_t n, src_.in->Read(src_.buf.data(), src_.buf.size()));
      if (n == 0) return absl::OkStatus();
    }
  }

 private:
  Source src_;
  struct archive* a_;
  size_t entries_ = 0;
};

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

// A member's metadata as ListLayer gives it (content not read).
LayerEntry EntryOf(struct archive_entry* e) {
  LayerEntry entry;
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
  return entry;
}

}  // namespace

absl::StatusOr<LayerFiles> ReadLayerFiles(Reader& layer,
                                          const std::function<bool(absl::string_view)>& wanted,
                                          size_t max_file_size, const LayerProbe* probe) {
  LayerArchive archive(layer);
  RETURN_IF_ERROR(archive.Open());
  struct archive* a = archive.get();
  LayerFiles out;
  for (;;) {
    ASSIGN_OR_RETURN(std::optional<LayerArchive::Member> m, archive.Next());
    if (!m) break;
    struct archive_entry* e = m->entry;
    const std::string& path = m->path;
    if (m->opaque) {
      out.opaque_dirs.push_back(m->dir);
      continue;
    }
    if (m->deletes) {
      out.deleted.push_back(*m->deletes);
      continue;
    }
    if (archive_entry_filetype(e) != AE_IFREG || archive_entry_hardlink(e) != nullptr) continue;
    if (!wanted(path)) {
      if (probe != nullptr && (archive_entry_perm(e) & 0111) != 0 &&
          archive_entry_size(e) > static_cast<la_int64_t>(probe->marker.size())) {
        absl::StatusOr<std::string> found = Probe(a, *probe);
        if (!found.ok()) return archive.Error(absl::StrCat("reading ", path));
        out.probed[path] = *std::move(found);
      }
      continue;
    }
    if (archive_entry_size(e) < 0 || static_cast<size_t>(archive_entry_size(e)) > max_file_size) {
      return absl::ResourceExhaustedError(
          absl::StrCat(path, " is larger than ", max_file_size, " bytes"));
    }
    std::string content(static_cast<size_t>(archive_entry_size(e)), '\0');
    size_t got = 0;
    while (got < content.size()) {
      la_ssize_t n = archive_read_data(a, content.data() + got, content.size() - got);
      if (n < 0) return archive.Error(absl::StrCat("reading ", path));
      if (n == 0) break;
      got += static_cast<size_t>(n);
    }
    content.resize(got);
    out.files[path] = std::move(content);
  }
  RETURN_IF_ERROR(archive.Drain());
  return out;
}

absl::StatusOr<std::map<std::string, LayerEntry>> ListLayer(Reader& layer, size_t max_text) {
  LayerArchive archive(layer);
  RETURN_IF_ERROR(archive.Open());
  std::map<std::string, LayerEntry> out;
  std::vector<char> buf(1 << 16);
  for (;;) {
    ASSIGN_OR_RETURN(std::optional<LayerArchive::Member> m, archive.Next());
    if (!m) break;
    if (m->opaque) {
      LayerEntry marker;
      marker.type = 'o';
      out[m->path] = std::move(marker);
      continue;
    }
    if (m->deletes) {
      LayerEntry whiteout;
      whiteout.type = 'w';
      out[*m->deletes] = std::move(whiteout);
      continue;
    }
    LayerEntry entry = EntryOf(m->entry);
    if (entry.type == 'f') {
      oci::Sha256 hash;
      std::string text;
      const la_int64_t size = archive_entry_size(m->entry);
      bool keep = size >= 0 && static_cast<size_t>(size) <= max_text;
      for (;;) {
        la_ssize_t n = archive_read_data(archive.get(), buf.data(), buf.size());
        if (n < 0) return archive.Error(absl::StrCat("reading ", m->path));
        if (n == 0) break;
        absl::string_view chunk(buf.data(), static_cast<size_t>(n));
        hash.Update(chunk);
        entry.size += n;
        if (keep && (chunk.find('\0') != absl::string_view::npos || text.size() + n > max_text)) {
          keep = false;
          text.clear();
        } else if (keep) {
          absl::StrAppend(&text, chunk);
        }
      }
      entry.sha256 = hash.Finish().hex();
      if (keep) entry.text = std::move(text);
    }
    out[m->path] = std::move(entry);
  }
  RETURN_IF_ERROR(archive.Drain());
  return out;
}

}  // namespace kiln::layers
