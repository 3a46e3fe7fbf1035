#include "layers/image_diff.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "base/status_macros.h"
#include "base/text_diff.h"

namespace kiln::layers {
namespace {

// Text files up to this size get a unified diff.
constexpr size_t kMaxText = 256 << 10;
// Longer lines of a text diff are cut in the text form (the JSON form has them whole).
constexpr size_t kMaxShownLine = 200;
// Config differences listed at most.
constexpr size_t kMaxConfigPaths = 50;

std::string TypeName(char type) {
  switch (type) {
    case 'f':
      return "file";
    case 'd':
      return "directory";
    case 'l':
      return "symlink";
    case 'h':
      return "hard link";
    case 'c':
      return "character device";
    case 'b':
      return "block device";
    case 'p':
      return "fifo";
    case 'w':
      return "whiteout";
    case 'o':
      return "opaque marker";
  }
  return "unknown";
}

std::string TimeText(const LayerEntry& e) {
  std::string t =
      absl::FormatTime("%Y-%m-%dT%H:%M:%S", absl::FromUnixSeconds(e.mtime), absl::UTCTimeZone());
  if (e.mtime_nsec != 0) absl::StrAppend(&t, absl::StrFormat(".%09d", e.mtime_nsec));
  return t + "Z";
}

std::string XattrText(const LayerEntry& e) {
  std::vector<std::string> names;
  for (const auto& [k, v] : e.xattrs) names.push_back(k);
  return names.empty() ? "none" : absl::StrJoin(names, ",");
}

// One side's value of one kind of difference, for the text form.
std::string ValueOf(const std::string& kind, const LayerEntry& e) {
  if (kind == "type") return TypeName(e.type);
  if (kind == "mode") return absl::StrFormat("%04o", e.mode);
  if (kind == "owner") return absl::StrCat(e.uid, ":", e.gid);
  if (kind == "mtime") return TimeText(e);
  if (kind == "xattr") return XattrText(e);
  if (kind == "link target") return e.link;
  if (kind == "device") return absl::StrCat(e.rdev_major, ",", e.rdev_minor);
  if (kind == "content") {
    return absl::StrCat(e.size, " bytes, sha256:", e.sha256.substr(0, 12));
  }
  return "";
}

nlohmann::json EntryJson(const LayerEntry& e) {
  nlohmann::json j = {{"type", TypeName(e.type)},
                      {"mode", absl::StrFormat("%04o", e.mode)},
                      {"uid", e.uid},
                      {"gid", e.gid},
                      {"mtime", TimeText(e)}};
  if (e.type == 'f') {
    j["size"] = e.size;
    j["sha256"] = e.sha256;
  }
  if (!e.link.empty()) j["link"] = e.link;
  if (e.type == 'c' || e.type == 'b') j["device"] = ValueOf("device", e);
  if (!e.xattrs.empty()) {
    nlohmann::json x = nlohmann::json::object();
    for (const auto& [k, v] : e.xattrs) x[k] = v.size();
    j["xattrs"] = x;  // names and value sizes: values may be binary
  }
  return j;
}

std::string ShortDigest(const std::string& d) {
  return d.size() > 19 ? d.substr(0, 19) : d;  // "sha256:" and 12 hex
}

}  // namespace

bool ImageDifference::identical() const {
  if (a_digest == b_digest) return true;
  if (!config_paths.empty()) return false;
  return std::all_of(layers.begin(), layers.end(), [](const LayerDifference& l) { return l.same; });
}

std::vector<FileDifference> DiffListings(const std::map<std::string, LayerEntry>& a,
                                         const std::map<std::string, LayerEntry>& b) {
  std::vector<FileDifference> out;
  auto ia = a.begin();
  auto ib = b.begin();
  while (ia != a.end() || ib != b.end()) {
    FileDifference d;
    if (ib == b.end() || (ia != a.end() && ia->first < ib->first)) {
      d.path = "/" + ia->first;
      d.kinds = {"removed"};
      d.a = ia->second;
      ++ia;
    } else if (ia == a.end() || ib->first < ia->first) {
      d.path = "/" + ib->first;
      d.kinds = {"added"};
      d.b = ib->second;
      ++ib;
    } else {
      const LayerEntry& x = ia->second;
      const LayerEntry& y = ib->second;
      d.path = "/" + ia->first;
      if (x.type != y.type) {
        d.kinds.push_back("type");
      } else if (x.type == 'f' && x.sha256 != y.sha256) {
        d.kinds.push_back("content");
        if (x.text && y.text) {
          d.diff = UnifiedDiff(*x.text, *y.text, "a" + d.path, "b" + d.path);
        }
      }
      // A whiteout has no metadata of its own to compare.
      const bool marker = x.type == 'w' || x.type == 'o' || y.type == 'w' || y.type == 'o';
      if (marker) {
        if (!d.kinds.empty()) {
          d.a = x;
          d.b = y;
          out.push_back(std::move(d));
        }
        ++ia;
        ++ib;
        continue;
      }
      if (x.mode != y.mode) d.kinds.push_back("mode");
      if (x.uid != y.uid || x.gid != y.gid) d.kinds.push_back("owner");
      if (x.mtime != y.mtime || x.mtime_nsec != y.mtime_nsec) d.kinds.push_back("mtime");
      if (x.xattrs != y.xattrs) d.kinds.push_back("xattr");
      if (x.type == y.type && x.link != y.link) d.kinds.push_back("link target");
      if (x.type == y.type && (x.rdev_major != y.rdev_major || x.rdev_minor != y.rdev_minor)) {
        d.kinds.push_back("device");
      }
      d.a = x;
      d.b = y;
      ++ia;
      ++ib;
    }
    if (!d.kinds.empty()) out.push_back(std::move(d));
  }
  return out;
}

absl::StatusOr<std::vector<FileDifference>> DiffLayers(Reader& a, Reader& b) {
  ASSIGN_OR_RETURN_CTX(auto la, ListLayer(a, kMaxText), "the first layer");
  ASSIGN_OR_RETURN_CTX(auto lb, ListLayer(b, kMaxText), "the second layer");
  return DiffListings(la, lb);
}

absl::StatusOr<ImageDifference> DiffImages(const std::string& a_name, ImageSource& a_source,
                                           const LoadedImage& a, const std::string& b_name,
                                           ImageSource& b_source, const LoadedImage& b) {
  ImageDifference d;
  d.a_name = a_name;
  d.b_name = b_name;
  d.a_digest = a.manifest.digest.str();
  d.b_digest = b.manifest.digest.str();
  d.a_config = a.parsed.config.digest.str();
  d.b_config = b.parsed.config.digest.str();
  if (d.a_config != d.b_config) {
    nlohmann::json ca = nlohmann::json::parse(a.config_bytes, nullptr, false);
    nlohmann::json cb = nlohmann::json::parse(b.config_bytes, nullptr, false);
    for (const nlohmann::json& op : nlohmann::json::diff(ca, cb)) {
      if (d.config_paths.size() == kMaxConfigPaths) break;
      std::string path = op.value("path", "");
      d.config_paths.push_back(path.empty() ? "/" : path);
    }
    // Same JSON, other bytes (key order, spacing): the bytes differ all the same.
    if (d.config_paths.empty()) d.config_paths.push_back("(serialization)");
  }
  const size_t n = std::max(a.parsed.layers.size(), b.parsed.layers.size());
  for (size_t i = 0; i < n; ++i) {
    LayerDifference l;
    l.index = i;
    if (i < a.parsed.layers.size()) {
      l.a = a.parsed.layers[i];
      if (i < a.config.diff_ids.size()) l.a_diff_id = a.config.diff_ids[i].str();
    }
    if (i < b.parsed.layers.size()) {
      l.b = b.parsed.layers[i];
      if (i < b.config.diff_ids.size()) l.b_diff_id = b.config.diff_ids[i].str();
    }
    l.same = l.a && l.b &&
             (l.a->digest == l.b->digest || (!l.a_diff_id.empty() && l.a_diff_id == l.b_diff_id));
    if (!l.same) {
      std::map<std::string, LayerEntry> la, lb;
      if (l.a) {
        ASSIGN_OR_RETURN(std::unique_ptr<Reader> r, a_source.OpenBlob(*l.a));
        ASSIGN_OR_RETURN_CTX(la, ListLayer(*r, kMaxText), a_name, " layer ", i + 1);
      }
      if (l.b) {
        ASSIGN_OR_RETURN(std::unique_ptr<Reader> r, b_source.OpenBlob(*l.b));
        ASSIGN_OR_RETURN_CTX(lb, ListLayer(*r, kMaxText), b_name, " layer ", i + 1);
      }
      l.files = DiffListings(la, lb);
    }
    d.layers.push_back(std::move(l));
  }
  return d;
}

std::string FormatFiles(const std::vector<FileDifference>& files, const std::string& indent) {
  std::string out;
  for (const FileDifference& f : files) {
    absl::StrAppend(&out, indent, absl::StrJoin(f.kinds, ","), " ", f.path);
    std::vector<std::string> values;
    for (const std::string& kind : f.kinds) {
      if (kind == "added" || kind == "removed" || !f.a || !f.b) continue;
      values.push_back(absl::StrCat(f.kinds.size() == 1 ? "" : kind + " ", ValueOf(kind, *f.a),
                                    " -> ", ValueOf(kind, *f.b)));
    }
    if (!values.empty()) absl::StrAppend(&out, ": ", absl::StrJoin(values, "; "));
    absl::StrAppend(&out, "\n");
    if (!f.diff.empty()) {
      for (absl::string_view line : absl::StrSplit(f.diff, '\n', absl::SkipEmpty())) {
        if (line.size() > kMaxShownLine) {
          absl::StrAppend(&out, indent, "    ", line.substr(0, kMaxShownLine), "...\n");
        } else {
          absl::StrAppend(&out, indent, "    ", line, "\n");
        }
      }
    }
  }
  return out;
}

std::string SummaryOf(const ImageDifference& d) {
  if (d.identical()) return absl::StrCat("identical: ", d.a_digest);
  size_t layers = 0, files = 0;
  for (const LayerDifference& l : d.layers) {
    if (l.same) continue;
    ++layers;
    files += l.files.size();
  }
  std::string s = absl::StrCat(layers, " of ", d.layers.size(), " layers differ (", files,
                               files == 1 ? " file)" : " files)");
  if (!d.config_paths.empty()) {
    absl::StrAppend(&s, "; the configs differ at ", d.config_paths.size(),
                    d.config_paths.size() == 1 ? " place" : " places");
  }
  return s;
}

std::string FormatImageDifference(const ImageDifference& d) {
  std::string out =
      absl::StrCat("a: ", d.a_name, " (", d.a_digest, ")\nb: ", d.b_name, " (", d.b_digest, ")\n");
  if (!d.config_paths.empty()) {
    absl::StrAppend(&out, "config: differs at ", absl::StrJoin(d.config_paths, ", "), "\n");
  }
  for (const LayerDifference& l : d.layers) {
    absl::StrAppend(&out, "layer ", l.index + 1, "/", d.layers.size(), ": ");
    if (l.same) {
      absl::StrAppend(&out, "same (", ShortDigest(l.a->digest.str()), ")\n");
      continue;
    }
    if (!l.a || !l.b) {
      absl::StrAppend(&out, "only in ", l.a ? "a" : "b", " (",
                      ShortDigest((l.a ? l.a : l.b)->digest.str()), ")\n");
    } else {
      absl::StrAppend(&out, "differs (", ShortDigest(l.a->digest.str()), " vs ",
                      ShortDigest(l.b->digest.str()), "), ", l.files.size(),
                      l.files.size() == 1 ? " file\n" : " files\n");
    }
    absl::StrAppend(&out, FormatFiles(l.files, "  "));
  }
  absl::StrAppend(&out, SummaryOf(d), "\n");
  return out;
}

nlohmann::json FilesJson(const std::vector<FileDifference>& files) {
  nlohmann::json out = nlohmann::json::array();
  for (const FileDifference& f : files) {
    nlohmann::json j = {{"path", f.path}, {"kinds", f.kinds}};
    j["a"] = f.a ? EntryJson(*f.a) : nlohmann::json(nullptr);
    j["b"] = f.b ? EntryJson(*f.b) : nlohmann::json(nullptr);
    if (!f.diff.empty()) j["diff"] = f.diff;
    out.push_back(std::move(j));
  }
  return out;
}

nlohmann::json ImageDifferenceJson(const ImageDifference& d) {
  nlohmann::json out = {
      {"identical", d.identical()},
      {"a", {{"name", d.a_name}, {"digest", d.a_digest}, {"config", d.a_config}}},
      {"b", {{"name", d.b_name}, {"digest", d.b_digest}, {"config", d.b_config}}},
      {"config", d.config_paths},
      {"summary", SummaryOf(d)},
  };
  nlohmann::json layers = nlohmann::json::array();
  for (const LayerDifference& l : d.layers) {
    nlohmann::json j = {{"index", l.index + 1}, {"same", l.same}};
    j["a"] = l.a ? nlohmann::json{{"digest", l.a->digest.str()}, {"diffID", l.a_diff_id}}
                 : nlohmann::json(nullptr);
    j["b"] = l.b ? nlohmann::json{{"digest", l.b->digest.str()}, {"diffID", l.b_diff_id}}
                 : nlohmann::json(nullptr);
    j["files"] = FilesJson(l.files);
    layers.push_back(std::move(j));
  }
  out["layers"] = std::move(layers);
  return out;
}

}  // namespace kiln::layers
