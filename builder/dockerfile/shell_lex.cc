#include "builder/dockerfile/shell_lex.h"

#include <algorithm>
#include <cctype>

#include "absl/strings/str_cat.h"
#include "base/glob.h"
#include "base/status_macros.h"
#include "builder/dockerfile/quote.h"

namespace kiln::builder::dockerfile {
namespace {

constexpr int kEof = -1;
constexpr int kMaxNesting = 64;
// Caps that keep hostile words (nested ${v//p/${v//...}} doubling at each level) bounded.
constexpr size_t kMaxResult = 1 << 20;
constexpr int64_t kMatchBudget = 20'000'000;  // bytes pattern matching may look at, per word

bool IsSpace(int c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

// Words as the shell splits them: unquoted whitespace separates, quoted text never does.
class Words {
 public:
  void AddChar(char c) {
    if (IsSpace(static_cast<unsigned char>(c))) {
      if (in_word_ && !word_.empty()) {
        words_.push_back(std::move(word_));
        word_.clear();
        in_word_ = false;
      }
    } else {
      AddRawChar(c);
    }
  }
  void AddRawChar(char c) {
    word_ += c;
    in_word_ = true;
  }
  void AddString(absl::string_view s) {
    for (char c : s) AddChar(c);
  }
  void AddRawString(absl::string_view s) {
    word_.append(s.data(), s.size());
    in_word_ = true;
  }
  std::vector<std::string> Get() {
    if (!word_.empty()) {
      words_.push_back(std::move(word_));
      word_.clear();
      in_word_ = false;
    }
    return std::move(words_);
  }

 private:
  std::string word_;
  std::vector<std::string> words_;
  bool in_word_ = false;
};

struct Result {
  std::string word;
  std::vector<std::string> words;
};

class Processor {
 public:
  Processor(absl::string_view input, const Env& env, const ShellLexOptions& options)
      : in_(input), env_(env), options_(options) {}

  absl::StatusOr<Result> Run() { return StopOnAny({}, false); }

 private:
  int Peek() const { return pos_ < in_.size() ? static_cast<unsigned char>(in_[pos_]) : kEof; }
  int Next() { return pos_ < in_.size() ? static_cast<unsigned char>(in_[pos_++]) : kEof; }

  std::optional<std::string> Get(const std::string& name) const {
    auto it = env_.find(name);
    if (it == env_.end()) return std::nullopt;
    return it->second;
  }

  // Reads until one of `stops` (consumed) or the end; an end before a stop is an error.
  absl::StatusOr<Result> StopOnAny(std::initializer_list<char> stops, bool raw_escapes) {
    if (++depth_ > kMaxNesting) return absl::InvalidArgumentError("syntax error: nesting too deep");
    Result r;
    Words words;
    while (Peek() != kEof) {
      int ch = Peek();
      if (std::find(stops.begin(), stops.end(), ch) != stops.end()) {
        Next();
        r.words = words.Get();
        --depth_;
        return r;
      }
      if (((ch == '\'' || ch == '"') && !options_.skip_quotes) || ch == '$') {
        absl::StatusOr<std::string> part = ch == '\''  ? SingleQuote()
                                           : ch == '"' ? DoubleQuote()
                                                       : Dollar();
        if (!part.ok()) return part.status();
        r.word += *part;
        if (r.word.size() > kMaxResult) {
          return absl::ResourceExhaustedError("expansion result too large");
        }
        if (ch == '$') {
          words.AddString(*part);
        } else {
          words.AddRawString(*part);
        }
        continue;
      }
      ch = Next();
      if (ch == options_.escape) {
        if (options_.raw_escapes || raw_escapes) {
          words.AddRawChar(static_cast<char>(ch));
          r.word += static_cast<char>(ch);
        }
        ch = Next();
        if (ch == kEof) break;  // an escape at the very end is dropped
        words.AddRawChar(static_cast<char>(ch));
      } else {
        words.AddChar(static_cast<char>(ch));
      }
      r.word += static_cast<char>(ch);
    }
    if (stops.size() > 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("unexpected end of statement while looking for matching ",
                       std::string(1, *(stops.end() - 1))));
    }
    r.words = words.Get();
    --depth_;
    return r;
  }

  absl::StatusOr<std::string> SingleQuote() {
    std::string out;
    Next();
    if (options_.raw_quotes) out += '\'';
    while (true) {
      int ch = Next();
      if (ch == kEof) {
        return absl::InvalidArgumentError(
            "unexpected end of statement while looking for matching single-quote");
      }
      if (ch == '\'') break;
      out += static_cast<char>(ch);
    }
    if (options_.raw_quotes) out += '\'';
    return out;
  }

  absl::StatusOr<std::string> DoubleQuote() {
    std::string out;
    Next();
    if (options_.raw_quotes) out += '"';
    while (true) {
      int ch = Peek();
      if (ch == kEof) {
        return absl::InvalidArgumentError(
            "unexpected end of statement while looking for matching double-quote");
      }
      if (ch == '"') {
        Next();
        break;
      }
      if (ch == '$') {
        ASSIGN_OR_RETURN(std::string v, Dollar());
        out += v;
        continue;
      }
      ch = Next();
      if (ch == options_.escape) {
        int next = Peek();
        if (next == kEof) continue;  // an escape at the end is dropped
        if (next == '"' || next == '$' || next == options_.escape) {
          if (options_.raw_escapes) out += static_cast<char>(ch);
          ch = Next();
        }
      }
      out += static_cast<char>(ch);
    }
    if (options_.raw_quotes) out += '"';
    return out;
  }

  static bool IsSpecialParam(int c) {
    return c == '@' || c == '*' || c == '#' || c == '?' || c == '-' || c == '$' || c == '!' ||
           c == '0';
  }

  std::string Name() {
    std::string name;
    while (Peek() != kEof) {
      int ch = Peek();
      if (name.empty() && std::isdigit(ch)) {
        while (Peek() != kEof && std::isdigit(Peek())) name += static_cast<char>(Next());
        return name;
      }
      if (name.empty() && IsSpecialParam(ch)) return std::string(1, static_cast<char>(Next()));
      if (!std::isalnum(ch) && ch != '_') break;
      name += static_cast<char>(Next());
    }
    return name;
  }

  // Long by design: one case per ${...} operator of BuildKit's lexer, in its order.
  absl::StatusOr<std::string> Dollar() {
    Next();
    if (Peek() != '{') {
      std::string name = Name();
      if (name.empty()) return std::string("$");
      auto v = Get(name);
      if (!v && options_.skip_unset_env) return absl::StrCat("$", name);
      return v.value_or("");
    }
    Next();
    switch (Peek()) {
      case kEof:
        return absl::InvalidArgumentError("syntax error: missing '}'");
      case '{':
      case '}':
      case ':':
        return absl::InvalidArgumentError("syntax error: bad substitution");
    }
    std::string name = Name();
    int ch = Next();
    if (ch == kEof) return absl::InvalidArgumentError("syntax error: missing '}'");
    std::string chs = ch == kEof ? "" : std::string(1, static_cast<char>(ch));
    bool null_is_unset = false;
    switch (ch) {
      case '}': {
        auto v = Get(name);
        if (!v && options_.skip_unset_env) return absl::StrCat("${", name, "}");
        return v.value_or("");
      }
      case ':':
        null_is_unset = true;
        ch = Next();
        if (ch != kEof) chs += static_cast<char>(ch);
        [[fallthrough]];
      case '+':
      case '-':
      case '?':
      case '#':
      case '%': {
        bool pattern = ch == '#' || ch == '%';
        if (null_is_unset && pattern) {
          return absl::InvalidArgumentError(
              absl::StrCat("unsupported modifier (", chs, ") in substitution"));
        }
        if (ch != '+' && ch != '-' && ch != '?' && !pattern) {
          return absl::InvalidArgumentError(
              absl::StrCat("unsupported modifier (", chs, ") in substitution"));
        }
        auto word = StopOnAny({'}'}, pattern);
        if (!word.ok()) {
          if (Peek() == kEof) return absl::InvalidArgumentError("syntax error: missing '}'");
          return word.status();
        }
        auto value = Get(name);
        if (!value && options_.skip_unset_env) {
          return absl::StrCat("${", name, chs, word->word, "}");
        }
        bool unset = !value || (null_is_unset && value->empty());
        switch (ch) {
          case '-':
            return unset ? word->word : *value;
          case '+':
            return unset ? std::string() : word->word;
          case '?':
            if (!value) {
              return absl::InvalidArgumentError(absl::StrCat(
                  name, ": ", word->word.empty() ? "is not allowed to be unset" : word->word));
            }
            if (null_is_unset && value->empty()) {
              return absl::InvalidArgumentError(absl::StrCat(
                  name, ": ", word->word.empty() ? "is not allowed to be empty" : word->word));
            }
            return *value;
          default: {
            std::string p = word->word;
            bool greedy = !p.empty() && p[0] == ch;
            if (greedy) p.erase(0, 1);
            return Trim(value.value_or(""), p, greedy, ch == '#');
          }
        }
      }
      case '/': {
        bool all = Peek() == '/';
        if (all) Next();
        auto pattern = StopOnAny({'/'}, true);
        if (!pattern.ok()) {
          if (Peek() == kEof) return absl::InvalidArgumentError("syntax error: missing '/' in ${}");
          return pattern.status();
        }
        auto replacement = StopOnAny({'}'}, true);
        if (!replacement.ok()) {
          if (Peek() == kEof) return absl::InvalidArgumentError("syntax error: missing '}'");
          return replacement.status();
        }
        auto value = Get(name);
        if (!value && options_.skip_unset_env) {
          return absl::StrCat("${", name, "/", pattern->word, "/", replacement->word, "}");
        }
        return Replace(value.value_or(""), pattern->word, replacement->word, all);
      }
      default:
        return absl::InvalidArgumentError(
            absl::StrCat("unsupported modifier (", chs, ") in substitution"));
    }
  }

  absl::StatusOr<bool> Matches(absl::string_view pattern, absl::string_view s) {
    budget_ -= static_cast<int64_t>(s.size() + pattern.size() + 1);
    if (budget_ < 0) {
      return absl::ResourceExhaustedError("pattern substitution too complex");
    }
    auto m = GlobMatch(pattern, s, false);
    if (!m.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("invalid pattern (", pattern, ") in substitution: ", m.status().message()));
    }
    return *m;
  }

  // ${v#p} / ${v##p} (prefix) and ${v%p} / ${v%%p} (suffix): shortest or longest match.
  absl::StatusOr<std::string> Trim(const std::string& v, const std::string& p, bool greedy,
                                   bool prefix) {
    size_t n = v.size();
    for (size_t k = 0; k <= n; ++k) {
      size_t len = greedy ? n - k : k;
      absl::string_view part =
          prefix ? absl::string_view(v).substr(0, len) : absl::string_view(v).substr(n - len);
      ASSIGN_OR_RETURN(bool m, Matches(p, part));
      if (m) return prefix ? v.substr(len) : v.substr(0, n - len);
    }
    return v;
  }

  // ${v/p/r}: the leftmost, longest match replaced (all non-overlapping ones with //).
  absl::StatusOr<std::string> Replace(const std::string& v, const std::string& p,
                                      const std::string& r, bool all) {
    std::string out;
    size_t i = 0;
    bool replaced = false;
    while (i <= v.size()) {
      bool found = false;
      if (!replaced || all) {
        for (size_t end = v.size() + 1; end-- > i;) {
          ASSIGN_OR_RETURN(bool m, Matches(p, absl::string_view(v).substr(i, end - i)));
          if (m) {
            out += r;
            if (out.size() > kMaxResult) {
              return absl::ResourceExhaustedError("substitution result too large");
            }
            replaced = true;
            found = true;
            if (end > i) {
              i = end;
            } else {
              if (i < v.size()) out += v[i];
              ++i;
            }
            break;
          }
        }
      }
      if (!found) {
        if (i < v.size()) out += v[i];
        ++i;
      }
    }
    return out;
  }

  absl::string_view in_;
  size_t pos_ = 0;
  const Env& env_;
  const ShellLexOptions& options_;
  int depth_ = 0;
  int64_t budget_ = kMatchBudget;
};

absl::StatusOr<Result> Process(absl::string_view word, const Env& env,
                               const ShellLexOptions& options) {
  Processor p(word, env, options);
  auto r = p.Run();
  if (!r.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("failed to process ", GoQuote(word), ": ", r.status().message()));
  }
  return r;
}

}  // namespace

absl::StatusOr<std::string> ShellLex::ProcessWord(absl::string_view word, const Env& env) const {
  ASSIGN_OR_RETURN(Result r, Process(word, env, options_));
  return r.word;
}

absl::StatusOr<std::vector<std::string>> ShellLex::ProcessWords(absl::string_view word,
                                                                const Env& env) const {
  ASSIGN_OR_RETURN(Result r, Process(word, env, options_));
  return r.words;
}

}  // namespace kiln::builder::dockerfile
