// Resolving a path one component at a time inside a root, the way the kernel walks it: "."
// is skipped, ".." stops at the root, and a symlink is replaced by its target (an absolute one
// restarts from the root), at most 40 of them. The caller says what each component is, so the
// same walk serves real directories (creating what is missing) and views such as a stack of
// layers. Stateless.
#ifndef KILN_BASE_PATH_WALK_H_
#define KILN_BASE_PATH_WALK_H_

#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace kiln {

struct PathStep {
  bool follow = false;  // the component is a symlink to `target`
  std::string target;
};

// `visit(parents, name, last)`: what `name` is in the directory reached by `parents` (real
// components, no symlinks); `last` when it is the path's final component. Returns the
// components `path` resolves to.
using PathVisitor = std::function<absl::StatusOr<PathStep>(const std::vector<std::string>& parents,
                                                           const std::string& name, bool last)>;
absl::StatusOr<std::vector<std::string>> WalkPath(absl::string_view path, const PathVisitor& visit);

}  // namespace kiln

#endif  // KILN_BASE_PATH_WALK_H_
