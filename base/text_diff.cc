#include "base/text_diff.h"

#include <algorithm>
#include <cstdint>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace kiln {
namespace {

// Larger middles than this many line pairs are shown as one replacement.
constexpr size_t kMaxTable = 4'000'000;

struct Op {
  char kind;    // ' ', '-', '+'
  size_t a, b;  // line numbers (0-based) in a and b before this line
  absl::string_view line;
};

std::vector<absl::string_view> Lines(absl::string_view text) {
  std::vector<absl::string_view> lines = absl::StrSplit(text, '\n');
  if (!lines.empty() && lines.back().empty()) lines.pop_back();  // the final newline
  return lines;
}

// The edit script of a[0..n) into b[0..m).
std::vector<Op> Script(const std::vector<absl::string_view>& a,
                       const std::vector<absl::string_view>& b) {
  size_t pre = 0;
  while (pre < a.size() && pre < b.size() && a[pre] == b[pre]) ++pre;
  size_t post = 0;
  while (post < a.size() - pre && post < b.size() - pre &&
         a[a.size() - 1 - post] == b[b.size() - 1 - post]) {
    ++post;
  }
  std::vector<Op> ops;
  for (size_t i = 0; i < pre; ++i) ops.push_back({' ', i, i, a[i]});
  const size_t n = a.size() - pre - post, m = b.size() - pre - post;
  if (n > 0 && m > 0 && n * m <= kMaxTable) {
    // lcs[i][j]: the common subsequence's length of a[pre+i..] and b[pre+j..].
    std::vector<uint32_t> lcs((n + 1) * (m + 1), 0);
    auto at = [&](size_t i, size_t j) -> uint32_t& { return lcs[i * (m + 1) + j]; };
    for (size_t i = n; i-- > 0;) {
      for (size_t j = m; j-- > 0;) {
        at(i, j) =
            a[pre + i] == b[pre + j] ? at(i + 1, j + 1) + 1 : std::max(at(i + 1, j), at(i, j + 1));
      }
    }
    size_t i = 0, j = 0;
    while (i < n || j < m) {
      if (i < n && j < m && a[pre + i] == b[pre + j]) {
        ops.push_back({' ', pre + i, pre + j, a[pre + i]});
        ++i, ++j;
      } else if (i < n && (j == m || at(i + 1, j) >= at(i, j + 1))) {
        ops.push_back({'-', pre + i, pre + j, a[pre + i]});  // deletions first, as diff -u
        ++i;
      } else {
        ops.push_back({'+', pre + i, pre + j, b[pre + j]});
        ++j;
      }
    }
  } else {
    for (size_t i = 0; i < n; ++i) ops.push_back({'-', pre + i, pre, a[pre + i]});
    for (size_t j = 0; j < m; ++j) ops.push_back({'+', pre + n, pre + j, b[pre + j]});
  }
  for (size_t k = 0; k < post; ++k) {
    ops.push_back({' ', pre + n + k, pre + m + k, a[pre + n + k]});
  }
  return ops;
}

}  // namespace

std::string UnifiedDiff(absl::string_view a, absl::string_view b, absl::string_view a_name,
                        absl::string_view b_name, size_t max_lines) {
  if (a == b) return "";
  const std::vector<absl::string_view> la = Lines(a), lb = Lines(b);
  const std::vector<Op> ops = Script(la, lb);
  constexpr size_t kContext = 3;
  std::vector<std::string> body;
  size_t k = 0;
  while (k < ops.size()) {
    // The next change, and its hunk: context before, changes joined when their context meets.
    while (k < ops.size() && ops[k].kind == ' ') ++k;
    if (k == ops.size()) break;
    size_t start = k >= kContext ? k - kContext : 0;
    size_t end = k;
    while (end < ops.size()) {
      if (ops[end].kind != ' ') {
        ++end;
        continue;
      }
      size_t run = end;
      while (run < ops.size() && ops[run].kind == ' ') ++run;
      if (run == ops.size() || run - end > 2 * kContext) {
        end = std::min(run, end + kContext);
        break;
      }
      end = run;
    }
    size_t a_count = 0, b_count = 0;
    for (size_t i = start; i < end; ++i) {
      if (ops[i].kind != '+') ++a_count;
      if (ops[i].kind != '-') ++b_count;
    }
    const size_t a_from = a_count ? ops[start].a + 1 : ops[start].a;
    const size_t b_from = b_count ? ops[start].b + 1 : ops[start].b;
    body.push_back(absl::StrCat("@@ -", a_from, ",", a_count, " +", b_from, ",", b_count, " @@"));
    for (size_t i = start; i < end; ++i)
      body.push_back(absl::StrCat(std::string(1, ops[i].kind), ops[i].line));
    k = end;
  }
  std::string out = absl::StrCat("--- ", a_name, "\n+++ ", b_name, "\n");
  for (size_t i = 0; i < body.size() && i < max_lines; ++i) absl::StrAppend(&out, body[i], "\n");
  if (body.size() > max_lines)
    absl::StrAppend(&out, "... ", body.size() - max_lines, " more lines\n");
  return out;
}

}  // namespace kiln
