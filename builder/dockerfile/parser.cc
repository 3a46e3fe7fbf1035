#include "builder/dockerfile/parser.h"

#include <algorithm>
#include <cctype>
#include <optional>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "base/status_macros.h"
#include "builder/dockerfile/quote.h"
#include "builder/dockerfile/shell_lex.h"
#include "nlohmann/json.hpp"

namespace kiln::builder::dockerfile {
namespace {

bool IsSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}
// BuildKit's reWhitespace: [\t\v\f\r ]+
bool IsTokenSpace(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'; }

absl::string_view TrimLeft(absl::string_view s) {
  while (!s.empty() && IsSpace(s.front())) s.remove_prefix(1);
  return s;
}
absl::string_view TrimRight(absl::string_view s) {
  while (!s.empty() && IsSpace(s.back())) s.remove_suffix(1);
  return s;
}
absl::string_view Trim(absl::string_view s) { return TrimRight(TrimLeft(s)); }
absl::string_view TrimNewline(absl::string_view s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

bool IsComment(absl::string_view raw) {
  absl::string_view s = TrimLeft(TrimNewline(raw));
  return !s.empty() && s.front() == '#';
}

// Splits on runs of BuildKit's token whitespace; at most `limit` parts (0: no limit).
std::vector<std::string> SplitWhitespace(absl::string_view s, size_t limit = 0) {
  std::vector<std::string> out;
  size_t i = 0;
  while (true) {
    if (limit != 0 && out.size() + 1 == limit) {
      out.emplace_back(s.substr(i));
      return out;
    }
    size_t j = i;
    while (j < s.size() && !IsTokenSpace(s[j])) ++j;
    out.emplace_back(s.substr(i, j - i));
    if (j == s.size()) return out;
    while (j < s.size() && IsTokenSpace(s[j])) ++j;
    i = j;
  }
}

struct DirectiveState {
  Directives directives;
  bool done = false;
  bool seen_escape = false, seen_syntax = false, seen_check = false;

  // `^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$` on a candidate line.
  absl::Status Consider(absl::string_view line) {
    if (done) return absl::OkStatus();
    absl::string_view s = line;
    if (s.empty() || s.front() != '#') {
      done = true;
      return absl::OkStatus();
    }
    s.remove_prefix(1);
    s = TrimLeft(s);
    size_t n = 0;
    while (n < s.size() && (n == 0 ? absl::ascii_isalpha(s[n]) : absl::ascii_isalnum(s[n]))) ++n;
    std::string key = absl::AsciiStrToLower(s.substr(0, n));
    s = TrimLeft(s.substr(n));
    if (n == 0 || s.empty() || s.front() != '=') {
      done = true;
      return absl::OkStatus();
    }
    absl::string_view value = Trim(s.substr(1));
    if (value.empty()) {
      done = true;
      return absl::OkStatus();
    }
    bool* seen = key == "escape"   ? &seen_escape
                 : key == "syntax" ? &seen_syntax
                 : key == "check"  ? &seen_check
                                   : nullptr;
    if (seen == nullptr) {
      done = true;
      return absl::OkStatus();
    }
    if (*seen) {
      return absl::InvalidArgumentError(
          absl::StrCat("only one ", key, " parser directive can be used"));
    }
    *seen = true;
    if (key == "escape") {
      if (value != "`" && value != "\\") {
        return absl::InvalidArgumentError(
            absl::StrCat("invalid escape token '", value, "' does not match ` or \\"));
      }
      directives.escape = value[0];
    } else if (key == "syntax") {
      directives.syntax = std::string(value);
    } else {
      directives.check = std::string(value);
    }
    return absl::OkStatus();
  }
};

// Strips the line-continuation escape: true iff the line continues.
bool TrimContinuation(std::string* line, char escape) {
  size_t end = line->size();
  while (end > 0 && ((*line)[end - 1] == ' ' || (*line)[end - 1] == '\t')) --end;
  if (end == 0 || (*line)[end - 1] != escape) return false;
  if (end >= 2 && (*line)[end - 2] == escape) return false;  // an escaped escape
  line->resize(end - 1);
  return true;
}

// Leading "--flag[=value]" words of an instruction, quotes and escapes processed; returns the
// rest of the line. A lone "--" ends the flags.
std::string ExtractBuilderFlags(absl::string_view line, std::vector<std::string>* words) {
  enum { kSpaces, kWord, kQuote } phase = kSpaces;
  std::string word;
  char quote = 0;
  bool blank_ok = false;
  for (size_t pos = 0; pos <= line.size(); ++pos) {
    char ch = pos < line.size() ? line[pos] : '\0';
    if (phase == kSpaces) {
      if (pos == line.size()) break;
      if (IsSpace(ch)) continue;
      if (ch != '-' || pos + 1 == line.size() || line[pos + 1] != '-') {
        return std::string(line.substr(pos));
      }
      phase = kWord;
    }
    if (pos == line.size()) {
      if (word != "--" && (blank_ok || !word.empty())) words->push_back(word);
      break;
    }
    if (phase == kWord) {
      if (IsSpace(ch)) {
        phase = kSpaces;
        if (word == "--") return std::string(line.substr(pos));
        if (blank_ok || !word.empty()) words->push_back(word);
        word.clear();
        blank_ok = false;
        continue;
      }
      if (ch == '\'' || ch == '"') {
        quote = ch;
        blank_ok = true;
        phase = kQuote;
        continue;
      }
      if (ch == '\\') {
        if (pos + 1 == line.size()) continue;
        ch = line[++pos];
      }
      word += ch;
      continue;
    }
    // kQuote
    if (ch == quote) {
      phase = kWord;
      continue;
    }
    if (ch == '\\') {
      if (pos + 1 == line.size()) {
        phase = kWord;
        continue;
      }
      ch = line[++pos];
    }
    word += ch;
  }
  return "";
}

// Words as BuildKit's parseWords splits them: quotes and escapes are kept in the words.
std::vector<std::string> ParseWords(absl::string_view rest, char escape) {
  enum { kSpaces, kWord, kQuote } phase = kSpaces;
  std::vector<std::string> words;
  std::string word;
  char quote = 0;
  bool blank_ok = false;
  for (size_t pos = 0; pos <= rest.size(); ++pos) {
    char ch = pos < rest.size() ? rest[pos] : '\0';
    if (phase == kSpaces) {
      if (pos == rest.size()) break;
      if (IsSpace(ch)) continue;
      phase = kWord;
    }
    if (pos == rest.size()) {
      if (blank_ok || !word.empty()) words.push_back(word);
      break;
    }
    if (phase == kWord) {
      if (IsSpace(ch)) {
        phase = kSpaces;
        if (blank_ok || !word.empty()) words.push_back(word);
        word.clear();
        blank_ok = false;
        continue;
      }
      if (ch == '\'' || ch == '"') {
        quote = ch;
        blank_ok = true;
        phase = kQuote;
      }
      if (ch == escape) {
        if (pos + 1 == rest.size()) continue;
        word += ch;
        ch = rest[++pos];
      }
      word += ch;
      continue;
    }
    if (ch == quote) phase = kWord;
    if (ch == escape && quote != '\'') {
      if (pos + 1 == rest.size()) {
        phase = kWord;
        continue;
      }
      word += ch;
      ch = rest[++pos];
    }
    word += ch;
  }
  return words;
}

absl::Status NotStringArray() {
  return absl::InvalidArgumentError(
      "when using JSON array syntax, arrays must be comprised of strings only");
}

// A JSON array of strings. nullopt when `rest` is not JSON (the caller falls back to the
// shell form); an error when it is an array with non-string elements.
absl::StatusOr<std::optional<std::vector<std::string>>> ParseJsonArray(absl::string_view rest) {
  rest = TrimLeft(rest);
  if (rest.empty() || rest.front() != '[') return std::nullopt;
  bool nested = false;
  auto callback = [&](int depth, nlohmann::json::parse_event_t event, nlohmann::json&) {
    if (depth >= 1 && (event == nlohmann::json::parse_event_t::object_start ||
                       event == nlohmann::json::parse_event_t::array_start)) {
      nested = true;
      return false;
    }
    return true;
  };
  nlohmann::json doc = nlohmann::json::parse(rest.begin(), rest.end(), callback, false);
  if (doc.is_discarded() || !doc.is_array()) return std::nullopt;
  if (nested) return NotStringArray();
  std::vector<std::string> out;
  for (const auto& v : doc) {
    if (!v.is_string()) return NotStringArray();
    out.push_back(v.get<std::string>());
  }
  return out;
}

absl::Status ParseLine(absl::string_view line, char escape, Node* node, int depth);

// Long by design: one case per instruction argument form (JSON, key=value, heredoc, shell), as
// BuildKit's dispatch table.
absl::Status ParseArgs(absl::string_view rest, char escape, Node* node, int depth) {
  const std::string& k = node->keyword;
  auto maybe_json = [&](bool to_list) -> absl::Status {
    ASSIGN_OR_RETURN(auto json, ParseJsonArray(rest));
    if (json) {
      node->json = true;
      node->args = std::move(*json);
    } else if (to_list) {
      if (!rest.empty()) node->args = SplitWhitespace(rest);
    } else if (!rest.empty()) {
      node->args = {std::string(rest)};
    }
    return absl::OkStatus();
  };
  if (k == "add" || k == "copy" || k == "volume") return maybe_json(true);
  if (k == "cmd" || k == "entrypoint" || k == "run" || k == "shell") {
    if (rest.empty()) return absl::OkStatus();
    return maybe_json(false);
  }
  if (k == "expose" || k == "from") {
    if (!rest.empty()) node->args = SplitWhitespace(rest);
    return absl::OkStatus();
  }
  if (k == "maintainer" || k == "stopsignal" || k == "user" || k == "workdir") {
    if (!rest.empty()) node->args = {std::string(rest)};
    return absl::OkStatus();
  }
  if (k == "arg") {
    node->args = ParseWords(rest, escape);
    return absl::OkStatus();
  }
  if (k == "env" || k == "label") {
    std::vector<std::string> words = ParseWords(rest, escape);
    if (words.empty()) return absl::OkStatus();
    if (!absl::StrContains(words[0], '=')) {
      // The old form: KEY value with spaces.
      std::vector<std::string> parts = SplitWhitespace(rest, 2);
      if (parts.size() < 2) {
        return absl::InvalidArgumentError(
            absl::StrCat(absl::AsciiStrToUpper(k), " must have two arguments"));
      }
      node->args = {parts[0], parts[1], ""};
      return absl::OkStatus();
    }
    for (const std::string& word : words) {
      size_t eq = word.find('=');
      if (eq == std::string::npos) {
        return absl::InvalidArgumentError(absl::StrCat(
            "Syntax error - can't find = in ", GoQuote(word), ". Must be of the form: name=value"));
      }
      node->args.push_back(word.substr(0, eq));
      node->args.push_back(word.substr(eq + 1));
      node->args.push_back("=");
    }
    return absl::OkStatus();
  }
  if (k == "healthcheck") {
    size_t sep = 0;
    while (sep < rest.size() && !IsSpace(rest[sep])) ++sep;
    if (sep == 0) return absl::OkStatus();
    size_t next = sep;
    while (next < rest.size() && IsSpace(rest[next])) ++next;
    node->args = {std::string(rest.substr(0, sep))};
    absl::string_view cmd = rest.substr(next);
    if (cmd.empty()) return absl::OkStatus();
    ASSIGN_OR_RETURN(auto json, ParseJsonArray(cmd));
    if (json) {
      node->json = true;
      node->args.insert(node->args.end(), json->begin(), json->end());
    } else {
      node->args.emplace_back(cmd);
    }
    return absl::OkStatus();
  }
  if (k == "onbuild") {
    if (rest.empty()) return absl::OkStatus();
    if (depth > 0) {
      // BuildKit parses one level of nesting; deeper chains are rejected later anyway.
      return absl::InvalidArgumentError("ONBUILD chaining not allowed via `ONBUILD ONBUILD`");
    }
    Node child;
    RETURN_IF_ERROR(ParseLine(rest, escape, &child, depth + 1));
    node->sub.push_back(std::move(child));
    return absl::OkStatus();
  }
  // Unknown instructions keep no arguments; instructions.h rejects them.
  node->args = {""};
  return absl::OkStatus();
}

absl::Status ParseLine(absl::string_view line, char escape, Node* node, int depth) {
  absl::string_view trimmed = Trim(line);
  size_t cmd_end = 0;
  while (cmd_end < trimmed.size() && !IsTokenSpace(trimmed[cmd_end])) ++cmd_end;
  node->keyword = absl::AsciiStrToLower(trimmed.substr(0, cmd_end));
  node->original = std::string(line);
  std::string rest;
  if (cmd_end < trimmed.size()) {
    size_t arg_start = cmd_end;
    while (arg_start < trimmed.size() && IsTokenSpace(trimmed[arg_start])) ++arg_start;
    rest = ExtractBuilderFlags(trimmed.substr(arg_start), &node->flags);
  }
  return ParseArgs(Trim(rest), escape, node, depth);
}

bool CanContainHeredoc(const Node& node) {
  const Node* n = &node;
  if (n->keyword == "onbuild" && !n->sub.empty()) n = &n->sub[0];
  return (n->keyword == "run" || n->keyword == "copy" || n->keyword == "add") && !n->json;
}

// `^(\d*)<<(-?)([^<]*)$` on a word of the instruction line.
absl::StatusOr<std::optional<Heredoc>> HeredocFromWord(absl::string_view word) {
  size_t i = 0;
  while (i < word.size() && absl::ascii_isdigit(word[i])) ++i;
  if (word.substr(i, 2) != "<<") return std::nullopt;
  absl::string_view fd = word.substr(0, i);
  i += 2;
  Heredoc h;
  if (i < word.size() && word[i] == '-') {
    h.chomp = true;
    ++i;
  }
  absl::string_view rest = word.substr(i);
  if (rest.empty() || absl::StrContains(rest, '<')) return std::nullopt;
  if (!fd.empty() && !absl::SimpleAtoi(fd, &h.fd)) return std::nullopt;
  ShellLexOptions plain;
  plain.skip_unset_env = true;
  ASSIGN_OR_RETURN(std::vector<std::string> words, ShellLex(plain).ProcessWords(rest, {}));
  if (words.size() != 1) return std::nullopt;
  ShellLexOptions raw = plain;
  raw.raw_quotes = true;
  ASSIGN_OR_RETURN(std::vector<std::string> raw_words, ShellLex(raw).ProcessWords(rest, {}));
  if (raw_words.size() != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("internal lexing of heredoc produced inconsistent results: ", rest));
  }
  auto quotes = [](const std::string& s) {
    return std::count(s.begin(), s.end(), '\'') + std::count(s.begin(), s.end(), '"');
  };
  h.name = words[0];
  h.expand = quotes(words[0]) == quotes(raw_words[0]);
  return h;
}

absl::StatusOr<std::vector<Heredoc>> HeredocsFromLine(absl::string_view line) {
  ShellLexOptions options;
  options.raw_quotes = true;
  options.raw_escapes = true;
  options.skip_unset_env = true;
  auto words = ShellLex(options).ProcessWords(line, {});
  std::vector<Heredoc> out;
  if (!words.ok()) return out;  // not shell-like: no heredocs, as BuildKit has it
  for (const std::string& word : *words) {
    ASSIGN_OR_RETURN(std::optional<Heredoc> h, HeredocFromWord(word));
    if (h) out.push_back(std::move(*h));
  }
  return out;
}

}  // namespace

std::string Node::Dump() const {
  std::string out = keyword;
  if (!flags.empty()) absl::StrAppend(&out, " ", GoQuoteList(flags));
  for (const Node& child : sub) absl::StrAppend(&out, " (", child.Dump(), ")");
  for (const std::string& arg : args) absl::StrAppend(&out, " ", GoQuote(arg));
  return std::string(Trim(out));
}

std::string Dockerfile::Dump() const {
  std::string out;
  for (const Node& n : nodes) absl::StrAppend(&out, "(", n.Dump(), ")\n");
  return out;
}

absl::Status Dockerfile::ErrorAt(int line, int column, absl::string_view message) const {
  std::string text = absl::StrCat(filename, ":", line, ":", column, ": ", message);
  if (line >= 1 && static_cast<size_t>(line) <= lines.size()) {
    const std::string& src = lines[line - 1];
    std::string caret;
    for (int i = 1; i < column && static_cast<size_t>(i) <= src.size(); ++i) {
      caret += src[i - 1] == '\t' ? '\t' : ' ';
    }
    absl::StrAppend(&text, "\n    ", src, "\n    ", caret, "^");
  }
  return absl::InvalidArgumentError(text);
}

// Long by design: the line-continuation, directive, comment and heredoc state machine, which must
// see every line in one loop.
absl::StatusOr<Dockerfile> Parse(absl::string_view content, absl::string_view filename) {
  Dockerfile df;
  df.filename = std::string(filename);
  if (content.size() > kMaxDockerfileSize) {
    return absl::InvalidArgumentError(absl::StrCat(
        filename, ": ", content.size(), " bytes, more than the limit of ", kMaxDockerfileSize));
  }
  // Physical lines with their endings (heredoc bodies keep them).
  std::vector<absl::string_view> raw;
  for (size_t i = 0; i < content.size();) {
    size_t nl = content.find('\n', i);
    size_t end = nl == absl::string_view::npos ? content.size() : nl + 1;
    raw.push_back(content.substr(i, end - i));
    i = end;
  }
  for (absl::string_view r : raw) df.lines.emplace_back(TrimNewline(r));
  if (!raw.empty() && absl::StartsWith(raw[0], "\xEF\xBB\xBF")) raw[0].remove_prefix(3);

  DirectiveState directives;
  auto fail = [&](int line, int col, absl::string_view msg) { return df.ErrorAt(line, col, msg); };
  size_t next = 0;  // index of the next physical line
  while (next < raw.size()) {
    size_t first = next++;
    int start_line = static_cast<int>(first) + 1;
    if (raw[first].size() > kMaxLineLength) return fail(start_line, 1, "line too long");
    absl::string_view stripped = TrimLeft(TrimNewline(raw[first]));
    int column = 1 + static_cast<int>(TrimNewline(raw[first]).size() - stripped.size());
    if (absl::Status s = directives.Consider(stripped); !s.ok()) {
      return fail(start_line, column, s.message());
    }
    if (!directives.directives.syntax.empty() && directives.directives.syntax_line == 0) {
      directives.directives.syntax_line = start_line;
    }
    char escape = directives.directives.escape;
    std::string line = stripped.empty() || stripped.front() == '#' ? "" : std::string(stripped);
    bool continues = TrimContinuation(&line, escape);
    if (!continues && line.empty()) continue;
    bool empty_continuation = false;
    while (continues && next < raw.size()) {
      absl::string_view physical = raw[next++];
      if (physical.size() > kMaxLineLength) return fail(static_cast<int>(next), 1, "line too long");
      directives.done = true;
      if (IsComment(physical)) continue;
      absl::string_view body = TrimNewline(physical);
      if (TrimLeft(body).empty()) {
        empty_continuation = true;
        continue;
      }
      std::string part(body);
      continues = TrimContinuation(&part, escape);
      line += part;
      if (line.size() > kMaxLineLength) return fail(start_line, column, "instruction too long");
    }
    directives.done = true;
    if (empty_continuation) {
      df.warnings.push_back(
          absl::StrCat("[WARNING]: Empty continuation line found in:\n    ", line));
    }
    Node node;
    node.start_line = start_line;
    node.column = column;
    if (absl::Status s = ParseLine(line, escape, &node, 0); !s.ok()) {
      return fail(start_line, column, s.message());
    }
    if (CanContainHeredoc(node)) {
      auto heredocs_or = HeredocsFromLine(line);
      if (!heredocs_or.ok()) return fail(start_line, column, heredocs_or.status().message());
      std::vector<Heredoc> heredocs = std::move(*heredocs_or);
      for (Heredoc& h : heredocs) {
        bool terminated = false;
        while (next < raw.size()) {
          absl::string_view body = raw[next++];
          absl::string_view candidate = TrimNewline(body);
          if (h.chomp) {
            while (!candidate.empty() && candidate.front() == '\t') candidate.remove_prefix(1);
          }
          if (candidate == h.name) {
            terminated = true;
            break;
          }
          h.content.append(body.data(), body.size());
        }
        if (!terminated) return fail(start_line, column, "unterminated heredoc");
        node.heredocs.push_back(std::move(h));
      }
    }
    node.end_line = static_cast<int>(next);
    df.nodes.push_back(std::move(node));
  }
  df.directives = directives.directives;
  if (df.nodes.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(filename, ":", raw.size(), ":1: file with no instructions"));
  }
  return df;
}

std::string ChompHeredocContent(absl::string_view content) {
  std::string out;
  out.reserve(content.size());
  bool line_start = true;
  for (char c : content) {
    if (line_start && c == '\t') continue;
    line_start = c == '\n';
    out += c;
  }
  return out;
}

}  // namespace kiln::builder::dockerfile
