#include "base/path_walk.h"

#include <cerrno>
#include <deque>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "base/status_macros.h"

namespace kiln {

absl::StatusOr<std::vector<std::string>> WalkPath(absl::string_view path,
                                                  const PathVisitor& visit) {
  constexpr int kMaxHops = 40;  // as the kernel's
  std::deque<std::string> todo;
  for (absl::string_view part : absl::StrSplit(path, '/', absl::SkipEmpty())) {
    todo.emplace_back(part);
  }
  std::vector<std::string> done;
  int hops = 0;
  while (!todo.empty()) {
    std::string part = std::move(todo.front());
    todo.pop_front();
    if (part == ".") continue;
    if (part == "..") {
      if (!done.empty()) done.pop_back();
      continue;
    }
    ASSIGN_OR_RETURN(PathStep step, visit(done, part, todo.empty()));
    if (!step.follow) {
      done.push_back(std::move(part));
      continue;
    }
    if (++hops > kMaxHops) return ErrnoError(absl::StrCat("resolve ", path), ELOOP);
    if (!step.target.empty() && step.target[0] == '/') done.clear();
    std::vector<absl::string_view> parts = absl::StrSplit(step.target, '/', absl::SkipEmpty());
    for (auto it = parts.rbegin(); it != parts.rend(); ++it) todo.emplace_front(*it);
  }
  return done;
}

}  // namespace kiln
