// Shell-style pattern matching: `*`, `?`, `[...]` (with `!`/`^` negation and ranges) and
// backslash escapes. In path mode `*`, `?` and classes never match '/', as Go's
// filepath.Match (which Docker uses for COPY sources and .dockerignore) has it.
// Stateless and thread-safe; runs in O(len(pattern) * len(text)).
#ifndef KILN_BASE_GLOB_H_
#define KILN_BASE_GLOB_H_

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace kiln {

// True iff all of `text` matches `pattern`. InvalidArgument ("syntax error in pattern") for
// a malformed pattern, such as an unterminated class or a trailing escape.
absl::StatusOr<bool> GlobMatch(absl::string_view pattern, absl::string_view text,
                               bool path_mode = false);

// True iff `pattern` has any of the special characters `*?[\`.
bool HasGlobMeta(absl::string_view pattern);

}  // namespace kiln

#endif  // KILN_BASE_GLOB_H_
