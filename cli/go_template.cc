#include "cli/go_template.h"

#include <cmath>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace kiln::cli {
namespace {

// Go's %v of a value.
std::string Print(const nlohmann::json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_null()) return "<no value>";
  if (v.is_array()) {
    std::vector<std::string> parts;
    for (const nlohmann::json& x : v) parts.push_back(Print(x));
    return absl::StrCat("[", absl::StrJoin(parts, " "), "]");
  }
  if (v.is_object()) {
    std::vector<std::string> parts;
    for (auto it = v.begin(); it != v.end(); ++it) {
      parts.push_back(absl::StrCat(it.key(), ":", Print(it.value())));
    }
    return absl::StrCat("map[", absl::StrJoin(parts, " "), "]");
  }
  return v.dump();
}

// `.A.B` (or `.`) looked up in `data`.
absl::StatusOr<nlohmann::json> Lookup(absl::string_view path, const nlohmann::json& data,
                                      absl::string_view action) {
  if (path == ".") return data;
  if (!absl::ConsumePrefix(&path, ".")) {
    return absl::InvalidArgumentError(
        absl::StrCat("--format: unsupported template action {{", action, "}}"));
  }
  const nlohmann::json* v = &data;
  for (absl::string_view field : absl::StrSplit(path, '.')) {
    if (!v->is_object() || !v->contains(std::string(field))) {
      return absl::InvalidArgumentError(
          absl::StrCat("--format: no field \"", field, "\" in {{", action, "}}"));
    }
    v = &(*v)[std::string(field)];
  }
  return *v;
}

std::string Unescape(absl::string_view text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\\' && i + 1 < text.size() && (text[i + 1] == 't' || text[i + 1] == 'n')) {
      out += text[i + 1] == 't' ? '\t' : '\n';
      ++i;
    } else {
      out += text[i];
    }
  }
  return out;
}

}  // namespace

absl::StatusOr<std::string> RenderTemplate(absl::string_view tmpl, const nlohmann::json& data) {
  std::string out;
  while (!tmpl.empty()) {
    size_t open = tmpl.find("{{");
    if (open == absl::string_view::npos) {
      absl::StrAppend(&out, Unescape(tmpl));
      break;
    }
    absl::StrAppend(&out, Unescape(tmpl.substr(0, open)));
    size_t close = tmpl.find("}}", open);
    if (close == absl::string_view::npos) {
      return absl::InvalidArgumentError("--format: unclosed {{ in the template");
    }
    absl::string_view action = absl::StripAsciiWhitespace(tmpl.substr(open + 2, close - open - 2));
    if (absl::ConsumePrefix(&action, "json ")) {
      absl::string_view path = absl::StripAsciiWhitespace(action);
      absl::StatusOr<nlohmann::json> v = Lookup(path, data, absl::StrCat("json ", path));
      if (!v.ok()) return v.status();
      absl::StrAppend(&out, v->dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
    } else {
      absl::StatusOr<nlohmann::json> v = Lookup(action, data, action);
      if (!v.ok()) return v.status();
      absl::StrAppend(&out, Print(*v));
    }
    tmpl.remove_prefix(close + 2);
  }
  return out;
}

std::string HumanAgoOf(const std::string& rfc3339) {
  absl::Time t;
  std::string err;
  if (rfc3339.empty() || !absl::ParseTime(absl::RFC3339_full, rfc3339, &t, &err)) return "N/A";
  return HumanAgo(absl::ToInt64Seconds(absl::Now() - t));
}

std::string HumanAgo(int64_t seconds) {
  const double s = static_cast<double>(seconds);
  const int64_t minutes = seconds / 60;
  const int64_t hours = static_cast<int64_t>(std::llround(s / 3600));
  std::string d;
  if (seconds < 1) {
    d = "Less than a second";
  } else if (seconds == 1) {
    d = "1 second";
  } else if (seconds < 60) {
    d = absl::StrCat(seconds, " seconds");
  } else if (minutes == 1) {
    d = "About a minute";
  } else if (minutes < 60) {
    d = absl::StrCat(minutes, " minutes");
  } else if (hours == 1) {
    d = "About an hour";
  } else if (hours < 48) {
    d = absl::StrCat(hours, " hours");
  } else if (hours < 24 * 7 * 2) {
    d = absl::StrCat(hours / 24, " days");
  } else if (hours < 24 * 30 * 2) {
    d = absl::StrCat(hours / 24 / 7, " weeks");
  } else if (hours < 24 * 365 * 2) {
    d = absl::StrCat(hours / 24 / 30, " months");
  } else {
    d = absl::StrCat(static_cast<int64_t>(s / 3600 / 24 / 365), " years");
  }
  return d + " ago";
}

}  // namespace kiln::cli
