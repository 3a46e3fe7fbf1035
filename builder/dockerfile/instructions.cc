#include "builder/dockerfile/instructions.h"

#include <cmath>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/status_macros.h"
#include "builder/dockerfile/quote.h"

namespace kiln::builder::dockerfile {
namespace {

enum class FlagKind { kString, kStrings, kBool };

struct FlagSpec {
  const char* name;
  FlagKind kind;
};

const std::map<std::string, std::vector<FlagSpec>>& Specs() {
  static const auto* specs = new std::map<std::string, std::vector<FlagSpec>>{
      {"ADD",
       {{"chown", FlagKind::kString},
        {"chmod", FlagKind::kString},
        {"link", FlagKind::kBool},
        {"checksum", FlagKind::kString},
        {"keep-git-dir", FlagKind::kBool},
        {"unpack", FlagKind::kBool},
        {"exclude", FlagKind::kStrings}}},
      {"ARG", {}},
      {"CMD", {}},
      {"COPY",
       {{"from", FlagKind::kString},
        {"chown", FlagKind::kString},
        {"chmod", FlagKind::kString},
        {"link", FlagKind::kBool},
        {"parents", FlagKind::kBool},
        {"exclude", FlagKind::kStrings}}},
      {"ENTRYPOINT", {}},
      {"ENV", {}},
      {"EXPOSE", {}},
      {"FROM", {{"platform", FlagKind::kString}}},
      {"HEALTHCHECK",
       {{"interval", FlagKind::kString},
        {"timeout", FlagKind::kString},
        {"start-period", FlagKind::kString},
        {"start-interval", FlagKind::kString},
        {"retries", FlagKind::kString}}},
      {"LABEL", {}},
      {"MAINTAINER", {}},
      {"ONBUILD", {}},
      {"RUN",
       {{"mount", FlagKind::kStrings},
        {"network", FlagKind::kString},
        {"security", FlagKind::kString}}},
      {"SHELL", {}},
      {"STOPSIGNAL", {}},
      {"USER", {}},
      {"VOLUME", {}},
      {"WORKDIR", {}},
  };
  return *specs;
}

size_t EditDistance(absl::string_view a, absl::string_view b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] != b[j - 1])});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

// The column of `needle` in the node's first line, or the node's column.
int ColumnOf(const Dockerfile& df, const Node& node, absl::string_view needle) {
  if (node.start_line >= 1 && static_cast<size_t>(node.start_line) <= df.lines.size()) {
    size_t pos = df.lines[node.start_line - 1].find(std::string(needle));
    if (pos != std::string::npos) return static_cast<int>(pos) + 1;
  }
  return node.column;
}

absl::Status ParseFlags(const Dockerfile& df, const Node& node, const std::string& name,
                        Instruction* out) {
  const std::vector<FlagSpec>& specs = Specs().at(name);
  for (const std::string& raw : node.flags) {
    auto error = [&](const std::string& msg) {
      return df.ErrorAt(node.start_line, ColumnOf(df, node, raw.substr(0, raw.find('='))), msg);
    };
    if (!absl::StartsWith(raw, "--"))
      return error(absl::StrCat("Arg should start with -- : ", raw));
    std::string body = raw.substr(2);
    size_t eq = body.find('=');
    std::string flag = body.substr(0, eq);
    bool has_value = eq != std::string::npos;
    std::string value = has_value ? body.substr(eq + 1) : "";
    const FlagSpec* spec = nullptr;
    for (const FlagSpec& s : specs) {
      if (flag == s.name) spec = &s;
    }
    if (spec == nullptr) {
      // BuildKit's words: "unknown flag: --netwrk (did you mean network?)".
      std::vector<std::string> names;
      for (const FlagSpec& s : specs) names.push_back(s.name);
      return error(absl::StrCat(
          "unknown flag: --", flag,
          names.empty() ? absl::StrCat(" (", name, " takes no flags)") : Suggest(flag, names)));
    }
    auto& values = out->flags[flag];
    if (!values.empty() && spec->kind != FlagKind::kStrings) {
      return error(absl::StrCat("duplicate flag specified: --", flag));
    }
    switch (spec->kind) {
      case FlagKind::kBool: {
        std::string v = has_value ? absl::AsciiStrToLower(value) : "true";
        if (v != "true" && v != "false") {
          return error(absl::StrCat("expecting boolean value for flag ", flag, ", not: ", value));
        }
        values.push_back(v);
        break;
      }
      case FlagKind::kString:
      case FlagKind::kStrings:
        if (!has_value) return error(absl::StrCat("Missing a value on flag: ", flag));
        values.push_back(value);
        break;
    }
  }
  return absl::OkStatus();
}

bool IsValidStageName(absl::string_view name) {
  if (name.empty() || !absl::ascii_isalpha(name[0])) return false;
  for (char c : name) {
    if (!absl::ascii_isalnum(c) && c != '-' && c != '_' && c != '.') return false;
  }
  return true;
}

// Long by design: a table of per-instruction argument rules written as code, one short branch
// each.
absl::Status CheckArgs(const Dockerfile& df, const Node& node, const Instruction& ins) {
  const std::string& n = ins.name;
  const auto& args = node.args;
  auto error = [&](const std::string& msg) {
    return df.ErrorAt(node.start_line, node.column, msg);
  };
  auto at_least_one = [&]() -> absl::Status {
    if (args.empty()) return error(absl::StrCat(n, " requires at least one argument"));
    return absl::OkStatus();
  };
  auto exactly_one = [&]() -> absl::Status {
    if (args.size() != 1) return error(absl::StrCat(n, " requires exactly one argument"));
    return absl::OkStatus();
  };
  if (n == "FROM") {
    if (args.size() != 1 && args.size() != 3) {
      return error("FROM requires either one or three arguments");
    }
    if (args.size() == 3) {
      if (!absl::EqualsIgnoreCase(args[1], "as")) {
        return error(
            absl::StrCat("FROM: expected \"AS\" before the stage name, got ", GoQuote(args[1])));
      }
      if (!IsValidStageName(absl::AsciiStrToLower(args[2]))) {
        return error(absl::StrCat("invalid name for build stage: ", GoQuote(args[2]),
                                  ", name can't start with a number or contain symbols"));
      }
    }
    return absl::OkStatus();
  }
  if (n == "ENV" || n == "LABEL" || n == "EXPOSE" || n == "VOLUME" || n == "ARG" || n == "RUN") {
    RETURN_IF_ERROR(at_least_one());
  }
  if (n == "ENV" || n == "LABEL") {
    for (size_t i = 0; i + 2 < args.size() + 2 && i < args.size(); i += 3) {
      if (args[i].empty()) return error(absl::StrCat(n, " names can not be blank"));
    }
  }
  if (n == "VOLUME") {
    for (const std::string& v : args) {
      if (v.empty()) return error("VOLUME specified can not be an empty string");
    }
  }
  if (n == "MAINTAINER" || n == "USER" || n == "WORKDIR" || n == "STOPSIGNAL") {
    RETURN_IF_ERROR(exactly_one());
  }
  if (n == "COPY" || n == "ADD") {
    if (args.size() < 2) {
      return error(absl::StrCat(n, " requires at least two arguments, but only ",
                                args.empty() ? "none was" : "one was",
                                " provided. Destination could not be determined."));
    }
    if (n == "COPY" && !ins.Flag("checksum").empty()) {
      return error("COPY does not take --checksum (use ADD)");
    }
  }
  if (n == "SHELL") {
    if (!node.json) return error("SHELL requires the arguments to be in JSON form");
    if (args.empty()) return error("SHELL requires at least one argument");
  }
  if (n == "ARG") {
    for (const std::string& a : args) {
      std::string key = a.substr(0, a.find('='));
      if (key.empty()) return error("ARG names can not be blank");
    }
  }
  if (n == "HEALTHCHECK") {
    if (args.empty()) return error("HEALTHCHECK requires at least one argument");
    std::string type = absl::AsciiStrToUpper(args[0]);
    if (type == "NONE") {
      if (args.size() > 1) return error("HEALTHCHECK NONE takes no arguments");
      if (!ins.flags.empty()) return error("HEALTHCHECK NONE takes no flags");
    } else if (type == "CMD") {
      if (args.size() < 2) return error("Missing command after HEALTHCHECK CMD");
    } else {
      return error(absl::StrCat("Unknown type ", GoQuote(args[0]), " in HEALTHCHECK (try CMD)"));
    }
    for (const char* f : {"interval", "timeout", "start-period", "start-interval"}) {
      std::string v = ins.Flag(f);
      if (v.empty()) continue;
      auto d = ParseGoDuration(v);
      if (!d.ok()) return error(absl::StrCat("--", f, ": ", d.status().message()));
      if (*d != 0 && *d < 1'000'000) {
        return error(absl::StrCat("--", f, " cannot be less than 1ms"));
      }
    }
    std::string retries = ins.Flag("retries");
    int64_t r;
    if (!retries.empty() && (!absl::SimpleAtoi(retries, &r) || r < 0)) {
      return error(
          absl::StrCat("--retries must be a non-negative integer, not ", GoQuote(retries)));
    }
  }
  if (n == "ONBUILD") {
    if (node.sub.empty()) return error("ONBUILD requires at least one argument");
    const std::string trigger = absl::AsciiStrToUpper(node.sub[0].keyword);
    if (trigger == "ONBUILD") return error("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed");
    if (trigger == "FROM" || trigger == "MAINTAINER") {
      return error(absl::StrCat(trigger, " isn't allowed as an ONBUILD trigger"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

// " (did you mean X?)" for the closest candidate within distance 2, else "".
std::string Suggest(absl::string_view got, const std::vector<std::string>& candidates) {
  std::string best;
  size_t best_d = 3;
  for (const std::string& c : candidates) {
    size_t d = EditDistance(absl::AsciiStrToLower(got), absl::AsciiStrToLower(c));
    if (d < best_d) {
      best_d = d;
      best = c;
    }
  }
  return best.empty() ? "" : absl::StrCat(" (did you mean ", best, "?)");
}

std::string Instruction::Flag(const std::string& name, const std::string& fallback) const {
  auto it = flags.find(name);
  return it == flags.end() || it->second.empty() ? fallback : it->second.back();
}

absl::StatusOr<Instruction> CheckInstruction(const Dockerfile& df, const Node& node) {
  Instruction ins;
  ins.node = &node;
  ins.name = absl::AsciiStrToUpper(node.keyword);
  if (Specs().find(ins.name) == Specs().end()) {
    std::vector<std::string> names;
    for (const auto& [k, v] : Specs()) names.push_back(k);
    std::string written = node.original.substr(0, node.keyword.size());
    size_t start = node.original.find_first_not_of(" \t");
    if (start != std::string::npos) written = node.original.substr(start, node.keyword.size());
    return df.ErrorAt(node.start_line, node.column,
                      absl::StrCat("unknown instruction: ", written, Suggest(written, names)));
  }
  RETURN_IF_ERROR(ParseFlags(df, node, ins.name, &ins));
  RETURN_IF_ERROR(CheckArgs(df, node, ins));
  if (!node.sub.empty()) {
    Node trigger = node.sub[0];
    trigger.start_line = node.start_line;
    trigger.column = ColumnOf(df, node, trigger.original.substr(0, trigger.keyword.size()));
    RETURN_IF_ERROR(CheckInstruction(df, trigger).status());
  }
  return ins;
}

absl::StatusOr<std::vector<Instruction>> CheckInstructions(const Dockerfile& df) {
  std::vector<Instruction> out;
  for (const Node& node : df.nodes) {
    ASSIGN_OR_RETURN(Instruction ins, CheckInstruction(df, node));
    out.push_back(std::move(ins));
  }
  return out;
}

absl::StatusOr<int64_t> ParseGoDuration(absl::string_view text) {
  absl::string_view s = text;
  auto bad = [&]() {
    return absl::InvalidArgumentError(absl::StrCat("time: invalid duration ", GoQuote(text)));
  };
  bool negative = false;
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) {
    negative = s[0] == '-';
    s.remove_prefix(1);
  }
  if (s == "0") return 0;
  if (s.empty()) return bad();
  double total = 0;
  while (!s.empty()) {
    size_t i = 0;
    while (i < s.size() && (absl::ascii_isdigit(s[i]) || s[i] == '.')) ++i;
    if (i == 0) return bad();
    double value;
    if (!absl::SimpleAtod(s.substr(0, i), &value)) return bad();
    s.remove_prefix(i);
    size_t u = 0;
    while (u < s.size() && !absl::ascii_isdigit(s[u]) && s[u] != '.') ++u;
    absl::string_view unit = s.substr(0, u);
    s.remove_prefix(u);
    double scale;
    if (unit == "ns") {
      scale = 1;
    } else if (unit == "us" || unit == "\xc2\xb5s" || unit == "\xce\xbcs") {
      scale = 1e3;
    } else if (unit == "ms") {
      scale = 1e6;
    } else if (unit == "s") {
      scale = 1e9;
    } else if (unit == "m") {
      scale = 60e9;
    } else if (unit == "h") {
      scale = 3600e9;
    } else {
      if (unit.empty()) {
        return absl::InvalidArgumentError(
            absl::StrCat("time: missing unit in duration ", GoQuote(text)));
      }
      return absl::InvalidArgumentError(
          absl::StrCat("time: unknown unit ", GoQuote(unit), " in duration ", GoQuote(text)));
    }
    total += value * scale;
    if (total > 9.2e18)
      return absl::InvalidArgumentError(absl::StrCat("time: invalid duration ", GoQuote(text)));
  }
  int64_t ns = static_cast<int64_t>(std::llround(total));
  return negative ? -ns : ns;
}

}  // namespace kiln::builder::dockerfile
