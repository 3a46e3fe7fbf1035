// Path resolution confined to a root directory, for writing into untrusted trees (layer
// extraction). Every lookup uses openat2(RESOLVE_IN_ROOT): symlinks and ".." are resolved as if
// the root were "/", so no path, however crafted, reaches outside it. Stateless, thread-safe.
#ifndef KILN_BASE_IN_ROOT_H_
#define KILN_BASE_IN_ROOT_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "base/unique_fd.h"

namespace kiln {

// openat2(root_fd, path, flags, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS).
absl::StatusOr<UniqueFd> OpenInRoot(int root_fd, absl::string_view path, int flags, int mode = 0);

// Opens directory `path` below the root as an O_PATH fd, creating missing components (mode
// 0755) on the way. A component that exists but is not a directory is an error.
absl::StatusOr<UniqueFd> MkdirAllInRoot(int root_fd, absl::string_view path);

// Splits a cleaned relative path "a/b/c" into ("a/b", "c"); ("", "c") for a single component.
std::pair<absl::string_view, absl::string_view> SplitParent(absl::string_view path);

// Cleans an archive member name into a relative path without "." components, leading or
// trailing slashes ("" names the root itself). Fails (InvalidArgument) on any ".." component.
absl::StatusOr<std::string> CleanMemberPath(absl::string_view name);

// Removes `name` in directory `dirfd` and, if it is a directory, everything below it. Never
// follows symlinks. Missing is not an error.
absl::Status RemoveAllAt(int dirfd, const std::string& name);

}  // namespace kiln

#endif  // KILN_BASE_IN_ROOT_H_
