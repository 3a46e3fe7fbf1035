#include "layers/layer_files.h"

#include <archive.h>
#include <archive_entry.h>

#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "base/status_macros.h"

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

}  // namespace kiln::layers
