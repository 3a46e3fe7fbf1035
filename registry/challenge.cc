#include "registry/challenge.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace kiln::registry {
namespace {

bool IsTokenChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) ||
         std::string_view("!#$%&'*+-.^_`|~/").find(c) != std::string_view::npos;
}

class Lexer {
 public:
  explicit Lexer(absl::string_view s) : s_(s) {}
  void SkipSpace() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t')) ++i_;
  }
  bool AtEnd() const { return i_ >= s_.size(); }
  char Peek() const { return AtEnd() ? '\0' : s_[i_]; }
  void Next() { ++i_; }
  size_t pos() const { return i_; }
  void set_pos(size_t p) { i_ = p; }
  std::string Token() {
    size_t start = i_;
    while (i_ < s_.size() && IsTokenChar(s_[i_])) ++i_;
    return std::string(s_.substr(start, i_ - start));
  }
  // A quoted-string (after the opening quote has been seen at Peek()).
  absl::StatusOr<std::string> Quoted() {
    ++i_;
    std::string out;
    while (i_ < s_.size()) {
      char c = s_[i_++];
      if (c == '"') return out;
      if (c == '\\') {
        if (i_ >= s_.size()) break;
        c = s_[i_++];
      }
      out.push_back(c);
    }
    return absl::InvalidArgumentError("unterminated quoted string");
  }

 private:
  absl::string_view s_;
  size_t i_ = 0;
};

}  // namespace

std::string Challenge::Param(const std::string& name) const {
  auto it = params.find(name);
  return it == params.end() ? "" : it->second;
}

absl::StatusOr<std::vector<Challenge>> ParseChallenges(absl::string_view header) {
  if (header.size() > kMaxChallengeSize) {
    return absl::InvalidArgumentError("WWW-Authenticate header too large");
  }
  std::vector<Challenge> out;
  Lexer lx(header);
  auto fail = [&](absl::string_view what) {
    return absl::InvalidArgumentError(
        absl::StrCat("malformed WWW-Authenticate header (", what, " at byte ", lx.pos(), ")"));
  };
  while (true) {
    lx.SkipSpace();
    while (lx.Peek() == ',') {
      lx.Next();
      lx.SkipSpace();
    }
    if (lx.AtEnd()) break;
    std::string scheme = lx.Token();
    if (scheme.empty()) return fail("expected an auth scheme");
    Challenge ch;
    ch.scheme = absl::AsciiStrToLower(scheme);
    // Parameters: name=value pairs separated by commas, until a token not followed by '='.
    while (true) {
      lx.SkipSpace();
      size_t mark = lx.pos();
      std::string name = lx.Token();
      if (name.empty()) break;
      lx.SkipSpace();
      if (lx.Peek() != '=') {
        lx.set_pos(mark);  // the next challenge's scheme (or token68, which we ignore)
        if (!ch.params.empty()) break;
        while (!lx.AtEnd() && lx.Peek() != ',') lx.Next();
        break;
      }
      lx.Next();
      lx.SkipSpace();
      std::string value;
      if (lx.Peek() == '"') {
        auto q = lx.Quoted();
        if (!q.ok()) return fail(q.status().message());
        value = *std::move(q);
      } else {
        value = lx.Token();
      }
      ch.params[absl::AsciiStrToLower(name)] = std::move(value);
      lx.SkipSpace();
      if (lx.Peek() == ',') {
        lx.Next();
        continue;
      }
      if (!lx.AtEnd()) return fail("expected ','");
      break;
    }
    out.push_back(std::move(ch));
    if (out.size() > 16) return fail("too many challenges");
  }
  if (out.empty()) return absl::InvalidArgumentError("empty WWW-Authenticate header");
  return out;
}

}  // namespace kiln::registry
