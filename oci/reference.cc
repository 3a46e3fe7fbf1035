#include "oci/reference.h"

#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "base/status_macros.h"

namespace kiln::oci {
namespace {

constexpr size_t kMaxNameLength = 255;
constexpr size_t kMaxReferenceLength = 1024;

bool IsLowerAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

// path-component := [a-z0-9]+ (separator [a-z0-9]+)*, separator := [_.] | __ | -+
bool IsValidPathComponent(absl::string_view s) {
  if (s.empty() || !IsLowerAlnum(s.front()) || !IsLowerAlnum(s.back())) return false;
  size_t i = 0;
  while (i < s.size()) {
    if (IsLowerAlnum(s[i])) {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < s.size() && !IsLowerAlnum(s[j])) ++j;
    absl::string_view sep = s.substr(i, j - i);
    bool ok = sep == "." || sep == "_" || sep == "__" ||
              sep.find_first_not_of('-') == absl::string_view::npos;
    if (!ok) return false;
    i = j;
  }
  return true;
}

bool IsValidDomainComponent(absl::string_view s) {
  if (s.empty() || !absl::ascii_isalnum(s.front()) || !absl::ascii_isalnum(s.back())) return false;
  for (char c : s) {
    if (!absl::ascii_isalnum(c) && c != '-') return false;
  }
  return true;
}

bool IsValidDomain(absl::string_view d) {
  absl::string_view host = d;
  if (!d.empty() && d.front() == '[') {  // [IPv6]:port
    size_t close = d.find(']');
    if (close == absl::string_view::npos || close < 3) return false;
    for (char c : d.substr(1, close - 1)) {
      if (!absl::ascii_isxdigit(c) && c != ':') return false;
    }
    host = {};
    d.remove_prefix(close + 1);
    if (d.empty()) return true;
    if (d.front() != ':') return false;
  } else {
    size_t colon = d.rfind(':');
    host = d.substr(0, colon);
    d = colon == absl::string_view::npos ? absl::string_view() : d.substr(colon);
    for (absl::string_view part : absl::StrSplit(host, '.')) {
      if (!IsValidDomainComponent(part)) return false;
    }
  }
  if (d.empty()) return true;
  absl::string_view port = d.substr(1);
  if (port.empty() || port.size() > 5) return false;
  for (char c : port) {
    if (!absl::ascii_isdigit(c)) return false;
  }
  return true;
}

absl::Status Invalid(absl::string_view text, absl::string_view why) {
  return absl::InvalidArgumentError(
      absl::StrCat("invalid reference \"", absl::CHexEscape(text.substr(0, 200)), "\": ", why));
}

}  // namespace

bool IsValidTag(absl::string_view tag) {
  if (tag.empty() || tag.size() > 128) return false;
  auto word = [](char c) { return absl::ascii_isalnum(c) || c == '_'; };
  if (!word(tag.front())) return false;
  for (char c : tag) {
    if (!word(c) && c != '.' && c != '-') return false;
  }
  return true;
}

absl::StatusOr<Reference> Reference::Parse(absl::string_view text) {
  if (text.empty()) return Invalid(text, "empty");
  if (text.size() > kMaxReferenceLength) return Invalid(text, "too long");
  Reference ref;
  absl::string_view rest = text;
  if (size_t at = rest.find('@'); at != absl::string_view::npos) {
    auto digest = Digest::Parse(rest.substr(at + 1));
    if (!digest.ok()) return Invalid(text, digest.status().message());
    ref.digest_ = *digest;
    rest = rest.substr(0, at);
  }
  size_t last_slash = rest.rfind('/');
  size_t colon = rest.rfind(':');
  if (colon != absl::string_view::npos &&
      (last_slash == absl::string_view::npos || colon > last_slash)) {
    ref.tag_ = std::string(rest.substr(colon + 1));
    rest = rest.substr(0, colon);
    if (!IsValidTag(ref.tag_)) return Invalid(text, "invalid tag");
  }
  if (rest.empty()) return Invalid(text, "no repository name");
  size_t slash = rest.find('/');
  absl::string_view first = rest.substr(0, slash);
  bool has_domain = slash != absl::string_view::npos &&
                    (absl::StrContains(first, '.') || absl::StrContains(first, ':') ||
                     first == "localhost" || absl::AsciiStrToLower(first) != first);
  absl::string_view remote = rest;
  if (has_domain) {
    if (!IsValidDomain(first)) return Invalid(text, "invalid registry host");
    ref.domain_ = std::string(first);
    remote = rest.substr(slash + 1);
  } else {
    ref.domain_ = kDockerHubDomain;
  }
  if (ref.domain_ == "index.docker.io") ref.domain_ = kDockerHubDomain;
  for (absl::string_view part : absl::StrSplit(remote, '/')) {
    if (!IsValidPathComponent(part)) {
      if (absl::AsciiStrToLower(part) != part) {
        return Invalid(text, "repository name must be lowercase");
      }
      return Invalid(text, "invalid repository name");
    }
  }
  ref.path_ = std::string(remote);
  if (ref.domain_ == kDockerHubDomain && !absl::StrContains(ref.path_, '/')) {
    ref.path_ = absl::StrCat("library/", ref.path_);
  }
  if (ref.Repository().size() > kMaxNameLength) return Invalid(text, "name too long");
  return ref;
}

std::string Reference::TagOrDefault() const {
  if (!tag_.empty()) return tag_;
  return digest_ ? "" : "latest";
}

std::string Reference::String() const {
  std::string s = Repository();
  std::string tag = TagOrDefault();
  if (!tag.empty()) absl::StrAppend(&s, ":", tag);
  if (digest_) absl::StrAppend(&s, "@", digest_->str());
  return s;
}

std::string Reference::Familiar() const {
  std::string name;
  // Dropping "docker.io/" is only safe when the path's first component would not itself be
  // read as a registry host ("docker.io/docker.io/x" must keep its domain).
  absl::string_view first = absl::string_view(path_).substr(0, path_.find('/'));
  bool path_looks_like_domain =
      absl::StrContains(first, '.') || absl::StrContains(first, ':') || first == "localhost";
  if (domain_ == kDockerHubDomain && !path_looks_like_domain) {
    name = absl::StartsWith(path_, "library/") && path_.find('/', 8) == std::string::npos
               ? path_.substr(8)
               : path_;
  } else {
    name = Repository();
  }
  std::string tag = TagOrDefault();
  if (!tag.empty()) absl::StrAppend(&name, ":", tag);
  if (digest_) absl::StrAppend(&name, "@", digest_->str());
  return name;
}

}  // namespace kiln::oci
