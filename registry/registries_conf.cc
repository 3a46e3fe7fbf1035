#include "registry/registries_conf.h"

#include <algorithm>
#include <cstdlib>
#include <functional>
#include <map>
#include <optional>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "base/file_util.h"
#include "base/status_macros.h"

namespace kiln::registry {
namespace {

constexpr int kMaxNesting = 32;

// A TOML value as far as registries.conf needs one.
struct Value {
  enum class Kind { kString, kBool, kInt, kArray, kTable };
  Kind kind = Kind::kString;
  std::string str;
  bool boolean = false;
  std::vector<Value> items;
};

// A reader of the TOML subset (see the header): tables, arrays of tables, key = value lines.
class TomlReader {
 public:
  TomlReader(absl::string_view text, const std::string& filename)
      : text_(text), filename_(filename) {}

  // Calls `table(name, is_array)` at each header and `key(name, value)` at each key.
  absl::Status Read(const std::function<absl::Status(const std::string&, bool)>& table,
                    const std::function<absl::Status(const std::string&, const Value&)>& key) {
    for (;;) {
      SkipBlank(/*newlines=*/true);
      if (AtEnd()) return absl::OkStatus();
      int line = line_;
      if (Peek() == '[') {
        bool array = Peek(1) == '[';
        pos_ += array ? 2 : 1;
        SkipBlank(false);
        ASSIGN_OR_RETURN(std::string name, ReadKey());
        SkipBlank(false);
        if (!Eat(']') || (array && !Eat(']'))) return Error("a table header must end with ]");
        RETURN_IF_ERROR(EndOfLine());
        RETURN_IF_ERROR(Annotate(table(name, array), line));
        continue;
      }
      ASSIGN_OR_RETURN(std::string name, ReadKey());
      SkipBlank(false);
      if (!Eat('=')) return Error(absl::StrCat("want = after ", name));
      SkipBlank(false);
      ASSIGN_OR_RETURN(Value v, ReadValue(0));
      RETURN_IF_ERROR(EndOfLine());
      RETURN_IF_ERROR(Annotate(key(name, v), line));
    }
  }

  absl::Status ErrorAt(int line, absl::string_view message) const {
    return absl::InvalidArgumentError(absl::StrCat(filename_, ":", line, ": ", message));
  }

 private:
  bool AtEnd() const { return pos_ >= text_.size(); }
  char Peek(size_t ahead = 0) const {
    return pos_ + ahead < text_.size() ? text_[pos_ + ahead] : '\0';
  }
  bool Eat(char c) {
    if (Peek() != c || AtEnd()) return false;
    ++pos_;
    return true;
  }
  absl::Status Error(absl::string_view message) const { return ErrorAt(line_, message); }
  absl::Status Annotate(absl::Status s, int line) const {
    if (s.ok() || absl::StartsWith(s.message(), filename_ + ":")) return s;
    return ErrorAt(line, s.message());
  }

  // Spaces and comments; newlines too when asked.
  void SkipBlank(bool newlines) {
    while (!AtEnd()) {
      char c = Peek();
      if (c == ' ' || c == '\t' || c == '\r') {
        ++pos_;
      } else if (c == '#') {
        while (!AtEnd() && Peek() != '\n') ++pos_;
      } else if (c == '\n' && newlines) {
        ++pos_;
        ++line_;
      } else {
        return;
      }
    }
  }

  absl::Status EndOfLine() {
    SkipBlank(false);
    if (AtEnd()) return absl::OkStatus();
    if (Peek() != '\n') return Error(absl::StrCat("unexpected \"", std::string(1, Peek()), "\""));
    return absl::OkStatus();
  }

  // A bare, quoted or dotted key, its parts joined with '.'.
  absl::StatusOr<std::string> ReadKey() {
    std::string key;
    for (;;) {
      if (Peek() == '"' || Peek() == '\'') {
        ASSIGN_OR_RETURN(std::string part, ReadString());
        key += part;
      } else {
        size_t start = pos_;
        while (!AtEnd() && (absl::ascii_isalnum(Peek()) || Peek() == '-' || Peek() == '_')) ++pos_;
        if (pos_ == start) return Error("want a key");
        absl::StrAppend(&key, text_.substr(start, pos_ - start));
      }
      SkipBlank(false);
      if (!Eat('.')) return key;
      key += '.';
      SkipBlank(false);
    }
  }

  absl::StatusOr<std::string> ReadString() {
    char quote = Peek();
    if (Peek(1) == quote && Peek(2) == quote) return Error("multi-line strings are not supported");
    ++pos_;
    std::string out;
    for (;;) {
      if (AtEnd() || Peek() == '\n') return Error("unterminated string");
      char c = text_[pos_++];
      if (c == quote) return out;
      if (c != '\\' || quote == '\'') {
        out += c;
        continue;
      }
      char e = AtEnd() ? '\0' : text_[pos_++];
      switch (e) {
        case '"':
          out += '"';
          break;
        case '\\':
          out += '\\';
          break;
        case 'n':
          out += '\n';
          break;
        case 't':
          out += '\t';
          break;
        case 'r':
          out += '\r';
          break;
        case 'b':
          out += '\b';
          break;
        case 'f':
          out += '\f';
          break;
        case 'u':
        case 'U': {
          size_t n = e == 'u' ? 4 : 8;
          uint32_t cp = 0;
          if (pos_ + n > text_.size() || !absl::SimpleHexAtoi(text_.substr(pos_, n), &cp) ||
              cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
            return Error("bad \\u escape");
          }
          pos_ += n;
          AppendUtf8(cp, &out);
          break;
        }
        default:
          return Error(absl::StrCat("bad escape \\", std::string(1, e)));
      }
    }
  }

  static void AppendUtf8(uint32_t cp, std::string* out) {
    if (cp < 0x80) {
      *out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      *out += static_cast<char>(0xC0 | (cp >> 6));
      *out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      *out += static_cast<char>(0xE0 | (cp >> 12));
      *out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      *out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      *out += static_cast<char>(0xF0 | (cp >> 18));
      *out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      *out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      *out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }

  absl::StatusOr<Value> ReadValue(int depth) {
    if (depth > kMaxNesting) return Error("values nested too deeply");
    Value v;
    char c = Peek();
    if (c == '"' || c == '\'') {
      ASSIGN_OR_RETURN(v.str, ReadString());
      return v;
    }
    if (c == '[') {
      ++pos_;
      v.kind = Value::Kind::kArray;
      for (;;) {
        SkipBlank(true);
        if (Eat(']')) return v;
        ASSIGN_OR_RETURN(Value item, ReadValue(depth + 1));
        v.items.push_back(std::move(item));
        SkipBlank(true);
        if (Eat(']')) return v;
        if (!Eat(',')) return Error("want , or ] in an array");
      }
    }
    if (c == '{') {
      ++pos_;
      v.kind = Value::Kind::kTable;
      SkipBlank(false);
      if (Eat('}')) return v;
      for (;;) {
        SkipBlank(false);
        ASSIGN_OR_RETURN(std::string key, ReadKey());
        SkipBlank(false);
        if (!Eat('=')) return Error(absl::StrCat("want = after ", key));
        SkipBlank(false);
        ASSIGN_OR_RETURN(Value item, ReadValue(depth + 1));
        v.items.push_back(std::move(item));
        SkipBlank(false);
        if (Eat('}')) return v;
        if (!Eat(',')) return Error("want , or } in an inline table");
      }
    }
    size_t start = pos_;
    while (!AtEnd() &&
           (absl::ascii_isalnum(Peek()) || Peek() == '-' || Peek() == '+' || Peek() == '_')) {
      ++pos_;
    }
    absl::string_view word = text_.substr(start, pos_ - start);
    int64_t n;
    if (word == "true" || word == "false") {
      v.kind = Value::Kind::kBool;
      v.boolean = word == "true";
    } else if (!word.empty() && absl::SimpleAtoi(word, &n)) {
      v.kind = Value::Kind::kInt;
      v.str = std::string(word);
    } else {
      return Error(word.empty() ? "want a value"
                                : absl::StrCat("unsupported value \"", word, "\""));
    }
    return v;
  }

  absl::string_view text_;
  const std::string& filename_;
  size_t pos_ = 0;
  int line_ = 1;
};

absl::StatusOr<std::string> StringOf(const std::string& key, const Value& v) {
  if (v.kind != Value::Kind::kString) return absl::InvalidArgumentError(key + ": want a string");
  return v.str;
}

absl::StatusOr<bool> BoolOf(const std::string& key, const Value& v) {
  if (v.kind != Value::Kind::kBool) return absl::InvalidArgumentError(key + ": want true or false");
  return v.boolean;
}

// The length of `prefix` when it matches the start of `ref` (containers/image's rule: the
// match ends the reference or is followed by '/', ':' or '@'), else 0. "*.host" matches a
// subdomain of host: the whole host part is then the match.
size_t MatchLength(const std::string& ref, const std::string& prefix) {
  if (absl::StartsWith(prefix, "*.")) {
    size_t host_end = ref.find('/');
    std::string host = ref.substr(0, host_end);
    std::string bare = host.substr(0, host.find(':'));
    return absl::EndsWith(bare, prefix.substr(1)) ? host.size() : 0;
  }
  if (!absl::StartsWith(ref, prefix)) return 0;
  if (ref.size() == prefix.size()) return prefix.size();
  char next = ref[prefix.size()];
  return next == '/' || next == ':' || next == '@' ? prefix.size() : 0;
}

std::string EffectivePrefix(const RegistryEntry& e) {
  return e.prefix.empty() ? e.location : e.prefix;
}

absl::Status Check(const RegistryEntry& e) {
  std::string prefix = EffectivePrefix(e);
  if (prefix.empty())
    return absl::InvalidArgumentError("a [[registry]] needs a prefix or location");
  if (absl::StartsWith(prefix, "*.") && !e.location.empty() && !e.prefix.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("[[registry]] ", prefix, ": a wildcard prefix cannot have a location"));
  }
  for (const RegistryMirror& m : e.mirrors) {
    if (m.location.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("[[registry.mirror]] of ", prefix, ": a mirror needs a location"));
    }
    if (e.mirror_by_digest_only && m.pull_from != RegistryMirror::PullFrom::kAll) {
      return absl::InvalidArgumentError(
          absl::StrCat("[[registry]] ", prefix,
                       ": mirror-by-digest-only and a mirror's pull-from-mirror cannot be "
                       "used together"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<RegistriesConf> RegistriesConf::Parse(absl::string_view text,
                                                     const std::string& filename) {
  if (text.size() > kMaxRegistriesConfSize) {
    return absl::InvalidArgumentError(
        absl::StrCat(filename, ": larger than ", kMaxRegistriesConfSize, " bytes"));
  }
  RegistriesConf conf;
  enum class In { kOther, kRegistry, kMirror } in = In::kOther;
  TomlReader reader(text, filename);
  auto table = [&](const std::string& name, bool array) -> absl::Status {
    in = In::kOther;
    if (name == "registry" && array) {
      if (conf.entries_.size() >= kMaxRegistryEntries) {
        return absl::InvalidArgumentError("too many [[registry]] tables");
      }
      conf.entries_.emplace_back();
      in = In::kRegistry;
    } else if (name == "registry.mirror" && array) {
      if (conf.entries_.empty())
        return absl::InvalidArgumentError("[[registry.mirror]] before any [[registry]]");
      if (conf.entries_.back().mirrors.size() >= kMaxRegistryEntries) {
        return absl::InvalidArgumentError("too many [[registry.mirror]] tables");
      }
      conf.entries_.back().mirrors.emplace_back();
      in = In::kMirror;
    } else if (name == "registry" || name == "registry.mirror") {
      return absl::InvalidArgumentError(
          absl::StrCat("[", name, "] must be written [[", name, "]]"));
    }
    return absl::OkStatus();
  };
  auto key = [&](const std::string& name, const Value& v) -> absl::Status {
    if (in == In::kRegistry) {
      RegistryEntry& e = conf.entries_.back();
      if (name == "prefix") {
        ASSIGN_OR_RETURN(e.prefix, StringOf(name, v));
      } else if (name == "location") {
        ASSIGN_OR_RETURN(e.location, StringOf(name, v));
      } else if (name == "insecure") {
        ASSIGN_OR_RETURN(e.insecure, BoolOf(name, v));
      } else if (name == "blocked") {
        ASSIGN_OR_RETURN(e.blocked, BoolOf(name, v));
      } else if (name == "mirror-by-digest-only") {
        ASSIGN_OR_RETURN(e.mirror_by_digest_only, BoolOf(name, v));
      }
    } else if (in == In::kMirror) {
      RegistryMirror& m = conf.entries_.back().mirrors.back();
      if (name == "location") {
        ASSIGN_OR_RETURN(m.location, StringOf(name, v));
      } else if (name == "insecure") {
        ASSIGN_OR_RETURN(m.insecure, BoolOf(name, v));
      } else if (name == "pull-from-mirror") {
        ASSIGN_OR_RETURN(std::string p, StringOf(name, v));
        if (p == "all" || p.empty()) {
          m.pull_from = RegistryMirror::PullFrom::kAll;
        } else if (p == "digest-only") {
          m.pull_from = RegistryMirror::PullFrom::kDigestOnly;
        } else if (p == "tag-only") {
          m.pull_from = RegistryMirror::PullFrom::kTagOnly;
        } else {
          return absl::InvalidArgumentError(
              absl::StrCat("pull-from-mirror \"", p, "\": want all, digest-only or tag-only"));
        }
      }
    }
    return absl::OkStatus();
  };
  RETURN_IF_ERROR(reader.Read(table, key));
  for (const RegistryEntry& e : conf.entries_) {
    if (absl::Status s = Check(e); !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(filename, ": ", s.message()));
    }
  }
  return conf;
}

std::string RegistriesConf::DefaultPath() {
  if (const char* env = std::getenv("CONTAINERS_REGISTRIES_CONF"); env != nullptr && *env) {
    return env;
  }
  if (const char* home = std::getenv("HOME"); home != nullptr && *home) {
    std::string user = absl::StrCat(home, "/.config/containers/registries.conf");
    if (PathExists(user)) return user;
  }
  if (PathExists("/etc/containers/registries.conf")) return "/etc/containers/registries.conf";
  return "";
}

absl::StatusOr<RegistriesConf> RegistriesConf::LoadFile(const std::string& path) {
  ASSIGN_OR_RETURN_CTX(std::string text, ReadFile(path, kMaxRegistriesConfSize + 1),
                       "registries configuration");
  return Parse(text, path);
}

absl::StatusOr<RegistriesConf> RegistriesConf::Load() {
  std::string path = DefaultPath();
  if (path.empty()) return RegistriesConf();
  ASSIGN_OR_RETURN(RegistriesConf conf, LoadFile(path));
  // Drop-ins beside it, in name order: a [[registry]] of a prefix already seen replaces it.
  std::string dir = path.substr(0, path.rfind('/') + 1) + "registries.conf.d";
  absl::StatusOr<std::vector<std::string>> names = ListDir(dir);
  if (!names.ok()) return conf;
  std::sort(names->begin(), names->end());
  for (const std::string& name : *names) {
    if (!absl::EndsWith(name, ".conf")) continue;
    ASSIGN_OR_RETURN(RegistriesConf more, LoadFile(absl::StrCat(dir, "/", name)));
    for (RegistryEntry& e : more.entries_) {
      auto same = std::find_if(conf.entries_.begin(), conf.entries_.end(), [&](const auto& old) {
        return EffectivePrefix(old) == EffectivePrefix(e);
      });
      if (same != conf.entries_.end()) {
        *same = std::move(e);
      } else if (conf.entries_.size() < kMaxRegistryEntries) {
        conf.entries_.push_back(std::move(e));
      }
    }
  }
  return conf;
}

absl::Status RegistriesConf::AddMirror(absl::string_view spec) {
  std::string prefix = "docker.io";
  absl::string_view location = spec;
  if (size_t eq = spec.find('='); eq != absl::string_view::npos) {
    prefix = std::string(spec.substr(0, eq));
    location = spec.substr(eq + 1);
  }
  RegistryMirror m;
  if (absl::ConsumePrefix(&location, "http://")) m.insecure = true;
  absl::ConsumePrefix(&location, "https://");
  while (absl::ConsumeSuffix(&location, "/")) {
  }
  m.location = std::string(location);
  if (prefix.empty() || m.location.empty() || absl::StrContains(m.location, "://")) {
    return absl::InvalidArgumentError(
        absl::StrCat("--registry-mirror \"", spec, "\": want [PREFIX=]HOST[:PORT][/PATH]"));
  }
  if (absl::Status s = oci::Reference::Parse(m.location + "/x").status(); !s.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--registry-mirror \"", spec, "\": ", s.message()));
  }
  RegistryEntry* entry = nullptr;
  for (RegistryEntry& e : entries_) {
    if (EffectivePrefix(e) == prefix) entry = &e;
  }
  if (entry == nullptr) {
    entries_.emplace_back();
    entry = &entries_.back();
    entry->prefix = prefix;
  }
  size_t& added = added_mirrors_[prefix];
  entry->mirrors.insert(entry->mirrors.begin() + static_cast<ptrdiff_t>(added), m);
  ++added;
  return absl::OkStatus();
}

const RegistryEntry* RegistriesConf::Match(const std::string& name, size_t* matched) const {
  const RegistryEntry* best = nullptr;
  size_t best_len = 0;
  for (const RegistryEntry& e : entries_) {
    size_t n = MatchLength(name, EffectivePrefix(e));
    if (n > best_len) {
      best = &e;
      best_len = n;
    }
  }
  *matched = best_len;
  return best;
}

absl::StatusOr<std::vector<PullSource>> RegistriesConf::PullSources(
    const oci::Reference& ref) const {
  const std::string name = ref.String();
  size_t matched = 0;
  const RegistryEntry* e = Match(name, &matched);
  if (e == nullptr) return std::vector<PullSource>{{ref, false, false}};
  if (e->blocked) {
    return absl::PermissionDeniedError(
        absl::StrCat("pulls of ", name, " are blocked by [[registry]] ", EffectivePrefix(*e)));
  }
  auto rewrite = [&](const std::string& location) -> absl::StatusOr<oci::Reference> {
    std::string text = location + name.substr(matched);
    absl::StatusOr<oci::Reference> r = oci::Reference::Parse(text);
    if (!r.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(name, " rewritten for ", location, " is ",
                                                     text, ": ", r.status().message()));
    }
    return r;
  };
  std::vector<PullSource> out;
  const bool by_digest = ref.digest().has_value();
  for (const RegistryMirror& m : e->mirrors) {
    if (e->mirror_by_digest_only && !by_digest) continue;
    if (m.pull_from == RegistryMirror::PullFrom::kDigestOnly && !by_digest) continue;
    if (m.pull_from == RegistryMirror::PullFrom::kTagOnly && by_digest) continue;
    ASSIGN_OR_RETURN(oci::Reference r, rewrite(m.location));
    out.push_back({std::move(r), m.insecure, true});
  }
  if (e->location.empty() || absl::StartsWith(EffectivePrefix(*e), "*.")) {
    out.push_back({ref, e->insecure, false});
  } else {
    ASSIGN_OR_RETURN(oci::Reference r, rewrite(e->location));
    out.push_back({std::move(r), e->insecure, false});
  }
  return out;
}

}  // namespace kiln::registry
