#include "builder/context/dockerignore.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "base/glob.h"

namespace kiln::builder::context {
namespace {

absl::string_view TrimSpace(absl::string_view s) {
  while (!s.empty() && absl::ascii_isspace(s.front())) s.remove_prefix(1);
  while (!s.empty() && absl::ascii_isspace(s.back())) s.remove_suffix(1);
  return s;
}

}  // namespace

std::string CleanPath(absl::string_view path) {
  std::vector<std::string> out;
  for (absl::string_view part : absl::StrSplit(path, '/', absl::SkipEmpty())) {
    if (part == ".") continue;
    if (part == "..") {
      if (!out.empty() && out.back() != "..") {
        out.pop_back();
      } else if (path.empty() || path[0] != '/') {
        out.emplace_back("..");
      }
      continue;
    }
    out.emplace_back(part);
  }
  if (out.empty()) return ".";
  return absl::StrJoin(out, "/");
}

absl::StatusOr<DockerIgnore> DockerIgnore::Parse(absl::string_view content,
                                                 absl::string_view filename) {
  DockerIgnore ignore;
  int line_no = 0;
  for (absl::string_view line : absl::StrSplit(content, '\n')) {
    ++line_no;
    if (line_no == 1 && absl::StartsWith(line, "\xEF\xBB\xBF")) line.remove_prefix(3);
    if (!line.empty() && line.front() == '#') continue;
    absl::string_view p = TrimSpace(line);
    if (p.empty()) continue;
    Pattern pattern;
    if (p.front() == '!') {
      pattern.exception = true;
      p = TrimSpace(p.substr(1));
      if (p.empty()) {
        return absl::InvalidArgumentError(
            absl::StrCat(filename, ":", line_no, ": illegal exclusion pattern: \"!\""));
      }
    }
    std::string cleaned = CleanPath(p);
    if (cleaned == ".") continue;  // "/" or "." would match everything below the root itself
    for (absl::string_view seg : absl::StrSplit(cleaned, '/')) {
      std::string s(seg);
      if (s != "**") {
        // Validate each segment now, so a bad pattern is reported, not silently unmatched.
        auto ok = GlobMatch(s, "", true);
        if (!ok.ok()) {
          return absl::InvalidArgumentError(
              absl::StrCat(filename, ":", line_no, ": pattern ", p, ": ", ok.status().message()));
        }
      }
      pattern.segments.push_back(std::move(s));
    }
    ignore.patterns_.push_back(std::move(pattern));
  }
  return ignore;
}

bool DockerIgnore::MatchSegments(const std::vector<std::string>& pattern, size_t pi,
                                 const std::vector<absl::string_view>& path, size_t si) {
  while (pi < pattern.size()) {
    if (pattern[pi] == "**") {
      // `**` swallows zero or more whole segments.
      for (size_t k = si; k <= path.size(); ++k) {
        if (MatchSegments(pattern, pi + 1, path, k)) return true;
      }
      return false;
    }
    if (si >= path.size()) return false;
    auto m = GlobMatch(pattern[pi], path[si], true);
    if (!m.ok() || !*m) return false;
    ++pi;
    ++si;
  }
  return si == path.size();
}

bool DockerIgnore::Excluded(absl::string_view path) const {
  std::vector<absl::string_view> parts = absl::StrSplit(path, '/', absl::SkipEmpty());
  bool excluded = false;
  for (const Pattern& p : patterns_) {
    // The pattern matches the path or one of its parent directories.
    bool match = false;
    std::vector<absl::string_view> prefix;
    for (absl::string_view part : parts) {
      prefix.push_back(part);
      if (MatchSegments(p.segments, 0, prefix, 0)) {
        match = true;
        break;
      }
    }
    if (match) excluded = !p.exception;
  }
  return excluded;
}

bool DockerIgnore::MayIncludeBelow(absl::string_view dir) const {
  std::vector<absl::string_view> parts = absl::StrSplit(dir, '/', absl::SkipEmpty());
  for (const Pattern& p : patterns_) {
    if (!p.exception) continue;
    // Could this exception match something below `dir`? Compare the leading segments.
    bool possible = true;
    for (size_t i = 0; i < parts.size() && i < p.segments.size(); ++i) {
      if (p.segments[i] == "**") break;
      auto m = GlobMatch(p.segments[i], parts[i], true);
      if (!m.ok() || !*m) {
        possible = false;
        break;
      }
    }
    if (possible) return true;
  }
  return false;
}

}  // namespace kiln::builder::context
