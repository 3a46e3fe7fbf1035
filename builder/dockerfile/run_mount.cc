#include "builder/dockerfile/run_mount.h"

#include <cmath>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "builder/dockerfile/instructions.h"

namespace kiln::builder::dockerfile {
namespace {

// One record of CSV (Go's encoding/csv): fields split at commas, a field that starts with a
// quote runs to the matching quote ("" inside is one quote).
absl::StatusOr<std::vector<std::string>> CsvFields(absl::string_view in) {
  std::vector<std::string> fields;
  size_t i = 0;
  while (true) {
    std::string field;
    if (i < in.size() && in[i] == '"') {
      ++i;
      while (true) {
        if (i >= in.size()) {
          return absl::InvalidArgumentError(
              "failed to parse csv mounts: extraneous or missing \" in quoted-field");
        }
        if (in[i] == '"') {
          if (i + 1 < in.size() && in[i + 1] == '"') {
            field += '"';
            i += 2;
            continue;
          }
          ++i;
          break;
        }
        field += in[i++];
      }
      if (i < in.size() && in[i] != ',') {
        return absl::InvalidArgumentError(
            "failed to parse csv mounts: extraneous or missing \" in quoted-field");
      }
    } else {
      size_t comma = in.find(',', i);
      if (comma == absl::string_view::npos) comma = in.size();
      field = std::string(in.substr(i, comma - i));
      if (absl::StrContains(field, '"')) {
        return absl::InvalidArgumentError(
            "failed to parse csv mounts: bare \" in non-quoted-field");
      }
      i = comma;
    }
    fields.push_back(std::move(field));
    if (i >= in.size()) break;
    ++i;  // the comma
  }
  return fields;
}

std::string CsvField(const std::string& field) {
  if (field.find_first_of(",\"\n\r") == std::string::npos && !field.empty()) return field;
  std::string out = "\"";
  for (char c : field) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

absl::StatusOr<bool> ParseGoBool(const std::string& v) {
  if (v == "1" || v == "t" || v == "T" || v == "TRUE" || v == "true" || v == "True") return true;
  if (v == "0" || v == "f" || v == "F" || v == "FALSE" || v == "false" || v == "False") {
    return false;
  }
  return absl::InvalidArgumentError(v);
}

const std::vector<std::string>& AllKeys() {
  static const auto* keys = new std::vector<std::string>{
      "type",        "from", "source", "target",    "readonly", "id",  "sharing",
      "required",    "size", "mode",   "uid",       "gid",      "src", "dst",
      "destination", "ro",   "rw",     "readwrite", "env"};
  return *keys;
}

}  // namespace

absl::StatusOr<uint64_t> ParseRamBytes(absl::string_view text) {
  // [0-9.]+ then an optional unit: k, m, g, t, p, optionally followed by b or ib (any case).
  size_t n = 0;
  while (n < text.size() && (absl::ascii_isdigit(text[n]) || text[n] == '.')) ++n;
  double value;
  if (n == 0 || !absl::SimpleAtod(text.substr(0, n), &value) || !std::isfinite(value) ||
      value < 0) {
    return absl::InvalidArgumentError(absl::StrCat("invalid size: '", text, "'"));
  }
  std::string unit = absl::AsciiStrToLower(text.substr(n));
  static const std::pair<const char*, double> kUnits[] = {{"", 1},
                                                          {"b", 1},
                                                          {"k", 1024.0},
                                                          {"kb", 1024.0},
                                                          {"kib", 1024.0},
                                                          {"m", 1 << 20},
                                                          {"mb", 1 << 20},
                                                          {"mib", 1 << 20},
                                                          {"g", 1 << 30},
                                                          {"gb", 1 << 30},
                                                          {"gib", 1 << 30},
                                                          {"t", 1099511627776.0},
                                                          {"tb", 1099511627776.0},
                                                          {"tib", 1099511627776.0},
                                                          {"p", 1125899906842624.0},
                                                          {"pb", 1125899906842624.0},
                                                          {"pib", 1125899906842624.0}};
  for (const auto& [name, factor] : kUnits) {
    if (unit == name) {
      double bytes = value * factor;
      if (bytes >= 1.8e19) break;
      return static_cast<uint64_t>(bytes);
    }
  }
  return absl::InvalidArgumentError(absl::StrCat("invalid size: '", text, "'"));
}

absl::StatusOr<std::string> ExpandRunMount(
    absl::string_view spec,
    const std::function<absl::StatusOr<std::string>(const std::string&)>& expand) {
  if (spec.size() > kMaxMountSpec) return absl::InvalidArgumentError("--mount value too long");
  ASSIGN_OR_RETURN(std::vector<std::string> fields, CsvFields(spec));
  std::vector<std::string> out;
  for (const std::string& field : fields) {
    size_t eq = field.find('=');
    if (eq == std::string::npos) {
      out.push_back(CsvField(field));
      continue;
    }
    std::string key = absl::AsciiStrToLower(field.substr(0, eq));
    std::string value = field.substr(eq + 1);
    if (key == "from") {
      size_t dollar = value.find('$');
      if (dollar != std::string::npos && dollar != value.size() - 1) {
        return absl::InvalidArgumentError(
            "'from' doesn't support variable expansion, define alias stage instead");
      }
    } else {
      ASSIGN_OR_RETURN(value, expand(value));
    }
    out.push_back(CsvField(field.substr(0, eq + 1) + value));
  }
  std::string joined;
  for (size_t i = 0; i < out.size(); ++i) absl::StrAppend(&joined, i ? "," : "", out[i]);
  if (joined.size() > kMaxMountSpec) return absl::InvalidArgumentError("--mount value too long");
  return joined;
}

const char* MountTypeName(MountType type) {
  switch (type) {
    case MountType::kBind:
      return "bind";
    case MountType::kCache:
      return "cache";
    case MountType::kTmpfs:
      return "tmpfs";
    case MountType::kSecret:
      return "secret";
    case MountType::kSsh:
      return "ssh";
  }
  return "?";
}

// Long by design: one branch per key, as BuildKit's parser has it, so each of its error messages
// sits beside the key it concerns.
absl::StatusOr<RunMount> ParseRunMount(absl::string_view spec) {
  if (spec.size() > kMaxMountSpec) return absl::InvalidArgumentError("--mount value too long");
  ASSIGN_OR_RETURN(std::vector<std::string> fields, CsvFields(spec));
  RunMount m;
  bool ro_auto = true;
  bool sharing_set = false;
  auto err = [](auto&&... parts) { return absl::InvalidArgumentError(absl::StrCat(parts...)); };
  for (const std::string& field : fields) {
    size_t eq = field.find('=');
    std::string key = absl::AsciiStrToLower(field.substr(0, eq));
    if (eq == std::string::npos) {
      if (key == "readonly" || key == "ro") {
        m.read_only = true;
        ro_auto = false;
      } else if (key == "readwrite" || key == "rw") {
        m.read_only = false;
        ro_auto = false;
      } else if (key == "required") {
        if (m.type != MountType::kSecret && m.type != MountType::kSsh) {
          return err("unexpected key '", key, "' for mount type '", MountTypeName(m.type), "'");
        }
        m.required = true;
      } else {
        return err("invalid field '", field, "' must be a key=value pair");
      }
      continue;
    }
    std::string value = field.substr(eq + 1);
    if (key == "type") {
      std::string v = absl::AsciiStrToLower(value);
      bool known = false;
      for (MountType t : {MountType::kBind, MountType::kCache, MountType::kTmpfs,
                          MountType::kSecret, MountType::kSsh}) {
        if (v == MountTypeName(t)) {
          m.type = t;
          known = true;
        }
      }
      if (!known) {
        return err("unsupported mount type \"", value, "\"",
                   Suggest(value, {"bind", "cache", "tmpfs", "secret", "ssh"}));
      }
    } else if (key == "from") {
      m.from = value;
    } else if (key == "source" || key == "src") {
      m.source = value;
    } else if (key == "target" || key == "dst" || key == "destination") {
      m.target = value;
    } else if (key == "readonly" || key == "ro" || key == "readwrite" || key == "rw") {
      absl::StatusOr<bool> b = ParseGoBool(value);
      if (!b.ok()) return err("invalid value for ", key, ": ", value);
      m.read_only = (key == "readonly" || key == "ro") ? *b : !*b;
      ro_auto = false;
    } else if (key == "required") {
      if (m.type != MountType::kSecret && m.type != MountType::kSsh) {
        return err("unexpected key '", key, "' for mount type '", MountTypeName(m.type), "'");
      }
      absl::StatusOr<bool> b = ParseGoBool(value);
      if (!b.ok()) return err("invalid value for ", key, ": ", value);
      m.required = *b;
    } else if (key == "size") {
      if (m.type != MountType::kTmpfs)
        return err("unexpected key '", key, "' for mount type '", MountTypeName(m.type), "'");
      absl::StatusOr<uint64_t> bytes = ParseRamBytes(value);
      if (!bytes.ok()) return err("invalid value for ", key, ": ", value);
      m.size = *bytes;
    } else if (key == "id") {
      m.id = value;
    } else if (key == "sharing") {
      std::string v = absl::AsciiStrToLower(value);
      if (v != "shared" && v != "private" && v != "locked") {
        return err("unsupported sharing value \"", value, "\"",
                   Suggest(value, {"shared", "private", "locked"}));
      }
      m.sharing = v;
      sharing_set = true;
    } else if (key == "mode" || key == "uid" || key == "gid") {
      uint32_t n;
      bool ok = key == "mode" ? absl::numbers_internal::safe_strtou32_base(value, &n, 8)
                              : absl::SimpleAtoi(value, &n) && !value.empty() &&
                                    absl::ascii_isdigit(value[0]);
      if (!ok) return err("invalid value ", value, " for ", key);
      (key == "mode" ? m.mode : key == "uid" ? m.uid : m.gid) = n;
    } else if (key == "env") {
      m.env = value;
    } else {
      return err("unexpected key '", key, "' in '", field, "'", Suggest(key, AllKeys()));
    }
  }
  bool file_info =
      m.type == MountType::kSecret || m.type == MountType::kSsh || m.type == MountType::kCache;
  if (!file_info) {
    if (m.mode) return err("mode not allowed for \"", MountTypeName(m.type), "\" type mounts");
    if (m.uid) return err("uid not allowed for \"", MountTypeName(m.type), "\" type mounts");
    if (m.gid) return err("gid not allowed for \"", MountTypeName(m.type), "\" type mounts");
  }
  if (ro_auto) m.read_only = !(m.type == MountType::kCache || m.type == MountType::kTmpfs);
  if (m.type == MountType::kSecret) {
    if (!m.from.empty()) return err("secret mount should not have a from");
    if (sharing_set) return err("secret mount should not define sharing");
    if (m.source.empty() && m.target.empty() && m.id.empty()) {
      return err("invalid secret mount. one of source, target required");
    }
    if (!m.source.empty() && !m.id.empty()) return err("both source and id can't be set");
  }
  if (sharing_set && m.type != MountType::kCache) {
    return err("invalid cache sharing set for ", MountTypeName(m.type), " mount");
  }
  return m;
}

}  // namespace kiln::builder::dockerfile
