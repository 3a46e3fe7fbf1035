#include "base/glob.h"

#include <vector>

namespace kiln {
namespace {

absl::Status BadPattern() { return absl::InvalidArgumentError("syntax error in pattern"); }

// Matches the class starting at pattern[i] (just after '[') against c. Sets *end to the index
// after the closing ']'.
absl::StatusOr<bool> MatchClass(absl::string_view p, size_t i, char c, bool path_mode,
                                size_t* end) {
  bool negate = false;
  if (i < p.size() && (p[i] == '!' || p[i] == '^')) {
    negate = true;
    ++i;
  }
  bool matched = false;
  bool first = true;
  while (true) {
    if (i >= p.size()) return BadPattern();
    if (p[i] == ']' && !first) break;
    first = false;
    char lo = p[i];
    if (lo == '\\') {
      if (++i >= p.size()) return BadPattern();
      lo = p[i];
    }
    ++i;
    char hi = lo;
    if (i + 1 < p.size() && p[i] == '-' && p[i + 1] != ']') {
      ++i;
      hi = p[i];
      if (hi == '\\') {
        if (++i >= p.size()) return BadPattern();
        hi = p[i];
      }
      ++i;
      if (hi < lo) return BadPattern();
    }
    if (lo <= c && c <= hi) matched = true;
  }
  *end = i + 1;
  if (path_mode && c == '/') return false;
  return matched != negate;
}

}  // namespace

bool HasGlobMeta(absl::string_view pattern) {
  return pattern.find_first_of("*?[\\") != absl::string_view::npos;
}

// Long by design: one backtracking loop over pattern and text, as Go's filepath.Match has
// it; split, the star's backtrack point would have to travel between the pieces.
absl::StatusOr<bool> GlobMatch(absl::string_view p, absl::string_view t, bool path_mode) {
  // Validate the whole pattern first, so a bad pattern is an error even when an early
  // mismatch would end matching.
  for (size_t i = 0; i < p.size(); ++i) {
    if (p[i] == '\\') {
      if (++i >= p.size()) return BadPattern();
    } else if (p[i] == '[') {
      size_t end;
      if (!MatchClass(p, i + 1, 'a', false, &end).ok()) return BadPattern();
      i = end - 1;
    }
  }
  // Iterative matching with one backtrack point per '*' (classic wildcard algorithm).
  size_t pi = 0, ti = 0;
  size_t star_p = absl::string_view::npos, star_t = 0;
  while (ti < t.size()) {
    if (pi < p.size()) {
      char pc = p[pi];
      if (pc == '*') {
        star_p = pi++;
        star_t = ti;
        continue;
      }
      if (pc == '?' && !(path_mode && t[ti] == '/')) {
        ++pi;
        ++ti;
        continue;
      }
      if (pc == '[') {
        size_t end;
        auto m = MatchClass(p, pi + 1, t[ti], path_mode, &end);
        if (!m.ok()) return m.status();
        if (*m) {
          pi = end;
          ++ti;
          continue;
        }
      } else if (pc != '?') {
        char lit = pc;
        size_t next = pi + 1;
        if (pc == '\\') {
          lit = p[pi + 1];
          next = pi + 2;
        }
        if (lit == t[ti]) {
          pi = next;
          ++ti;
          continue;
        }
      }
    }
    // Mismatch: let the last '*' swallow one more character, unless that is a '/' in path mode.
    if (star_p != absl::string_view::npos && !(path_mode && t[star_t] == '/')) {
      pi = star_p + 1;
      ti = ++star_t;
      continue;
    }
    return false;
  }
  while (pi < p.size() && p[pi] == '*') ++pi;
  return pi == p.size();
}

}  // namespace kiln
