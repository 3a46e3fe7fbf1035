// A unified diff of two texts, line by line (`diff -u`'s format, hunks with three lines of
// context), for showing how two versions of a small text file differ. The lines common to
// both ends are set aside first; what is left is aligned by a longest common subsequence when
// small enough, else shown as one replacement. Stateless, thread-safe.
#ifndef KILN_BASE_TEXT_DIFF_H_
#define KILN_BASE_TEXT_DIFF_H_

#include <cstddef>
#include <string>

#include "absl/strings/string_view.h"

namespace kiln {

// "--- a_name\n+++ b_name\n@@ -l,n +l,n @@\n ..." with at most `max_lines` lines after the
// two headers (then "... N more lines"); empty when the texts are equal.
std::string UnifiedDiff(absl::string_view a, absl::string_view b, absl::string_view a_name,
                        absl::string_view b_name, size_t max_lines = 40);

}  // namespace kiln

#endif  // KILN_BASE_TEXT_DIFF_H_
