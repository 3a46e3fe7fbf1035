// .dockerignore patterns with Docker's semantics: one pattern per line, '#' comments, '!'
// exceptions, patterns cleaned (leading "/" and "./" dropped), `*` and `?` and `[...]` within
// one path segment, `**` across any number of segments. A path is excluded when the last
// pattern matching it or one of its parent directories is not an exception.
// Immutable after construction; thread-safe.
#ifndef KILN_BUILDER_CONTEXT_DOCKERIGNORE_H_
#define KILN_BUILDER_CONTEXT_DOCKERIGNORE_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace kiln::builder::context {

class DockerIgnore {
 public:
  DockerIgnore() = default;
  // Parses the content of a .dockerignore file; a bad pattern is InvalidArgument naming its
  // line.
  static absl::StatusOr<DockerIgnore> Parse(absl::string_view content,
                                            absl::string_view filename = ".dockerignore");

  // True iff `path` (relative to the context, '/'-separated, cleaned) is excluded.
  bool Excluded(absl::string_view path) const;
  // True iff some exception pattern could re-include something below excluded `dir`, so a
  // walk must still look inside it.
  bool MayIncludeBelow(absl::string_view dir) const;
  bool empty() const { return patterns_.empty(); }

 private:
  struct Pattern {
    std::vector<std::string> segments;
    bool exception = false;
  };
  static bool MatchSegments(const std::vector<std::string>& pattern, size_t pi,
                            const std::vector<absl::string_view>& path, size_t si);
  std::vector<Pattern> patterns_;
};

// Cleans a '/'-separated path like Go's path.Clean, then drops a leading "/": "./a//b/../c" →
// "a/c", "/" → ".".
std::string CleanPath(absl::string_view path);

}  // namespace kiln::builder::context

#endif  // KILN_BUILDER_CONTEXT_DOCKERIGNORE_H_
