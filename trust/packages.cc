#include "trust/packages.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "nlohmann/json.hpp"

namespace kiln::trust {
namespace {

// Paragraphs of "Key: value" lines (continuations start with a space), as dpkg writes them.
using Stanza = std::map<std::string, std::string>;

absl::StatusOr<std::vector<Stanza>> Stanzas(absl::string_view text, char separator) {
  if (text.size() > kMaxPackageDbSize) {
    return absl::InvalidArgumentError("the package database is too large");
  }
  std::vector<Stanza> out;
  Stanza current;
  std::string last;
  auto flush = [&]() -> absl::Status {
    if (current.empty()) return absl::OkStatus();
    if (out.size() >= kMaxPackages) {
      return absl::InvalidArgumentError("the package database lists too many packages");
    }
    out.push_back(std::move(current));
    current.clear();
    last.clear();
    return absl::OkStatus();
  };
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    absl::ConsumeSuffix(&line, "\r");
    if (absl::StripAsciiWhitespace(line).empty()) {
      if (absl::Status s = flush(); !s.ok()) return s;
      continue;
    }
    if (separator == ':' && (line[0] == ' ' || line[0] == '\t')) {
      if (!last.empty()) absl::StrAppend(&current[last], "\n", absl::StripAsciiWhitespace(line));
      continue;
    }
    size_t sep = line.find(separator);
    if (sep == absl::string_view::npos || sep == 0) continue;
    last = std::string(line.substr(0, sep));
    current[last] = std::string(absl::StripAsciiWhitespace(line.substr(sep + 1)));
  }
  if (absl::Status s = flush(); !s.ok()) return s;
  return out;
}

std::string Get(const Stanza& s, const char* key) {
  auto it = s.find(key);
  return it == s.end() ? "" : it->second;
}

// PURL percent-encoding: everything but unreserved characters.
std::string Encode(absl::string_view v) {
  std::string out;
  for (unsigned char c : v) {
    if (absl::ascii_isalnum(c) || c == '.' || c == '-' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      absl::StrAppendFormat(&out, "%%%02X", c);
    }
  }
  return out;
}

}  // namespace

std::map<std::string, std::string> ParseOsRelease(absl::string_view text) {
  std::map<std::string, std::string> out;
  for (absl::string_view line : absl::StrSplit(text.substr(0, 1 << 16), '\n')) {
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line[0] == '#') continue;
    size_t eq = line.find('=');
    if (eq == absl::string_view::npos) continue;
    absl::string_view v = line.substr(eq + 1);
    if (v.size() >= 2 && (v[0] == '"' || v[0] == '\'') && v.back() == v[0]) {
      v = v.substr(1, v.size() - 2);
    }
    out[std::string(line.substr(0, eq))] = std::string(v);
  }
  return out;
}

namespace {

// The field names a database gives a package's parts under.
struct Fields {
  const char* name;
  const char* version;
  const char* arch;
  const char* license;  // nullptr: none declared
  const char* source;
};

absl::StatusOr<std::vector<Package>> PackagesOf(absl::string_view text, const char* type,
                                                const Fields& f) {
  absl::StatusOr<std::vector<Stanza>> stanzas = Stanzas(text, ':');
  if (!stanzas.ok()) return stanzas.status();
  std::vector<Package> out;
  for (const Stanza& s : *stanzas) {
    // dpkg keeps removed packages with their configuration: only "installed" ones count.
    std::string status = Get(s, "Status");
    if (!status.empty() && !absl::EndsWith(status, " installed")) continue;
    Package p;
    p.type = type;
    p.name = Get(s, f.name);
    p.version = Get(s, f.version);
    p.arch = Get(s, f.arch);
    if (f.license != nullptr) p.license = Get(s, f.license);
    p.source = Get(s, f.source);
    // "Source: bash (5.2.15-2)": the source package's own version follows.
    if (size_t space = p.source.find(' '); space != std::string::npos) p.source.resize(space);
    if (p.name.empty() || p.version.empty()) continue;
    out.push_back(std::move(p));
  }
  return out;
}

}  // namespace

absl::StatusOr<std::vector<Package>> ParseDpkgStatus(absl::string_view text) {
  return PackagesOf(text, "deb", {"Package", "Version", "Architecture", nullptr, "Source"});
}

absl::StatusOr<std::vector<Package>> ParseApkInstalled(absl::string_view text) {
  return PackagesOf(text, "apk", {"P", "V", "A", "L", "o"});
}

std::optional<Package> ParsePythonMetadata(absl::string_view text) {
  Package p;
  p.type = "pypi";
  for (absl::string_view line : absl::StrSplit(text.substr(0, kMaxPackageDbSize), '\n')) {
    absl::ConsumeSuffix(&line, "\r");
    if (line.empty()) break;  // the headers end; the description follows
    size_t colon = line.find(':');
    if (colon == absl::string_view::npos || line[0] == ' ' || line[0] == '\t') continue;
    absl::string_view key = line.substr(0, colon);
    std::string value(absl::StripAsciiWhitespace(line.substr(colon + 1)));
    if (key == "Name" && p.name.empty()) {
      p.name = value;
    } else if (key == "Version" && p.version.empty()) {
      p.version = value;
    } else if (key == "License-Expression" || (key == "License" && p.license.empty())) {
      if (value != "UNKNOWN") p.license = value;
    }
  }
  if (p.name.empty() || p.version.empty()) return std::nullopt;
  return p;
}

std::optional<Package> ParsePackageJson(absl::string_view text) {
  if (text.size() > kMaxPackageDbSize) return std::nullopt;
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object() || !j.contains("name") || !j["name"].is_string() || !j.contains("version") ||
      !j["version"].is_string()) {
    return std::nullopt;
  }
  Package p;
  p.type = "npm";
  p.name = j["name"];
  p.version = j["version"];
  if (p.name.empty() || p.version.empty()) return std::nullopt;
  if (j.contains("license")) {
    if (j["license"].is_string()) {
      p.license = j["license"];
    } else if (j["license"].is_object() && j["license"].contains("type") &&
               j["license"]["type"].is_string()) {
      p.license = j["license"]["type"];
    }
  }
  return p;
}

std::vector<Package> ParseGoBuildInfo(absl::string_view bytes) {
  std::vector<Package> out;
  constexpr size_t kHeader = 32;  // magic (14), pointer size, flags, padding
  if (bytes.size() < kHeader || !absl::StartsWith(bytes, kGoBuildInfoMagic)) return out;
  if ((static_cast<unsigned char>(bytes[15]) & 2) == 0) return out;  // pre-1.18: pointers
  size_t pos = kHeader;
  auto read_string = [&]() -> std::optional<absl::string_view> {
    uint64_t n = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (pos >= bytes.size()) return std::nullopt;
      unsigned char c = static_cast<unsigned char>(bytes[pos++]);
      n |= uint64_t{c & 0x7fu} << shift;
      if (c < 0x80) {
        if (n > bytes.size() - pos) return std::nullopt;
        absl::string_view v = bytes.substr(pos, n);
        pos += n;
        return v;
      }
    }
    return std::nullopt;
  };
  std::optional<absl::string_view> version = read_string();
  std::optional<absl::string_view> modinfo = read_string();
  if (!version || !modinfo || version->empty()) return out;
  Package stdlib;
  stdlib.type = "golang";
  stdlib.name = "stdlib";
  stdlib.version = std::string(*version);
  out.push_back(stdlib);
  absl::string_view info = *modinfo;
  if (info.size() >= 33 && info[info.size() - 17] == '\n') {  // 16-byte sentinels around it
    info = info.substr(16, info.size() - 32);
  }
  for (absl::string_view line : absl::StrSplit(info, '\n')) {
    std::vector<absl::string_view> f = absl::StrSplit(line, '\t');
    if (f.size() < 3 || (f[0] != "mod" && f[0] != "dep" && f[0] != "=>")) continue;
    if (out.size() >= kMaxPackages) break;
    Package p;
    p.type = "golang";
    p.name = std::string(f[1]);
    p.version = std::string(f[2]);
    if (f[0] == "=>") {  // replaces the dependency before it
      if (out.size() > 1) out.back() = p;
      continue;
    }
    if (p.name.empty() || p.version.empty()) continue;
    out.push_back(std::move(p));
  }
  return out;
}

std::string PackageFileType(absl::string_view path) {
  // Asked of every file of every layer: most end otherwise.
  if (!absl::EndsWith(path, "/METADATA") && !absl::EndsWith(path, "/PKG-INFO") &&
      !absl::EndsWith(path, "/package.json")) {
    return "";
  }
  std::vector<absl::string_view> parts = absl::StrSplit(path, '/');
  if (parts.size() >= 2) {
    absl::string_view dir = parts[parts.size() - 2], base = parts.back();
    if ((absl::EndsWith(dir, ".dist-info") && base == "METADATA") ||
        (absl::EndsWith(dir, ".egg-info") && base == "PKG-INFO")) {
      return "pypi";
    }
  }
  // node_modules/NAME/package.json or node_modules/@SCOPE/NAME/package.json.
  if (parts.size() >= 3 && parts.back() == "package.json") {
    size_t n = parts.size();
    if (parts[n - 3] == "node_modules") return "npm";
    if (n >= 4 && parts[n - 4] == "node_modules" && absl::StartsWith(parts[n - 3], "@")) {
      return "npm";
    }
  }
  return "";
}

std::string PackageUrl(const Package& p, const std::map<std::string, std::string>& os_release) {
  auto get = [&](const char* k) {
    auto it = os_release.find(k);
    return it == os_release.end() ? std::string() : it->second;
  };
  if (p.type == "pypi") {
    // PEP 503's normalized name.
    std::string name;
    for (char c : absl::AsciiStrToLower(p.name)) {
      bool sep = c == '-' || c == '_' || c == '.';
      if (sep && !name.empty() && name.back() == '-') continue;
      name += sep ? '-' : c;
    }
    return absl::StrCat("pkg:pypi/", Encode(name), "@", Encode(p.version));
  }
  if (p.type == "golang") {
    std::vector<std::string> segments;
    for (absl::string_view seg : absl::StrSplit(p.name, '/')) segments.push_back(Encode(seg));
    return absl::StrCat("pkg:golang/", absl::StrJoin(segments, "/"), "@", Encode(p.version));
  }
  if (p.type == "npm") {
    std::string name = p.name;
    std::string ns;
    if (size_t slash = name.find('/'); absl::StartsWith(name, "@") && slash != std::string::npos) {
      ns = absl::StrCat(Encode(name.substr(0, slash)), "/");
      name = name.substr(slash + 1);
    }
    return absl::StrCat("pkg:npm/", ns, Encode(name), "@", Encode(p.version));
  }
  std::string ns = get("ID");
  if (ns.empty()) ns = p.type == "apk" ? "alpine" : "debian";
  std::string url =
      absl::StrCat("pkg:", p.type, "/", Encode(ns), "/", Encode(p.name), "@", Encode(p.version));
  std::vector<std::string> q;
  if (!p.arch.empty()) q.push_back(absl::StrCat("arch=", Encode(p.arch)));
  std::string version_id = get("VERSION_ID");
  if (!version_id.empty()) {
    q.push_back(
        absl::StrCat("distro=", p.type == "apk" ? "" : Encode(ns) + "-", Encode(version_id)));
  }
  if (!p.source.empty() && p.source != p.name && p.type == "deb") {
    q.push_back(absl::StrCat("upstream=", Encode(p.source)));
  }
  if (!q.empty()) absl::StrAppend(&url, "?", absl::StrJoin(q, "&"));
  return url;
}

}  // namespace kiln::trust
