// Named build contexts (`--build-context NAME=VALUE`, BuildKit's `context:NAME`): a directory
// or an image that stands in for what a Dockerfile names NAME. A stage named NAME is replaced
// by it (its instructions do not run); `FROM NAME`, `COPY --from=NAME` and `RUN --mount
// from=NAME` that name no stage use it instead of the image NAME. Names match as BuildKit
// matches them: by the image reference's short form without ":latest" ("busybox" matches
// `FROM docker.io/library/busybox:latest`); "scratch" and "context" cannot be replaced.
#ifndef KILN_BUILDER_NAMED_CONTEXT_H_
#define KILN_BUILDER_NAMED_CONTEXT_H_

#include <map>
#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace kiln::builder {

struct NamedContext {
  enum class Kind { kDir, kImage };
  Kind kind = Kind::kDir;
  // kDir: a directory (its .dockerignore applies, its files become root's as the build
  // context's do). kImage: an image location as ImportImage takes it: a reference (the store,
  // else its registry), "oci:DIR[:NAME|:sha256:HEX]", or "scratch".
  std::string source;
};

// Keyed by NamedContextKey.
using NamedContexts = std::map<std::string, NamedContext>;

// The key `name` matches contexts by; an error when it is no image reference.
absl::StatusOr<std::string> NamedContextKey(absl::string_view name);

// The context `name` (a stage or image name as a Dockerfile writes it) stands for, or null.
const NamedContext* FindNamedContext(const NamedContexts& contexts, absl::string_view name);

// "NAME=VALUE" of --build-context: VALUE is `docker-image://REF`, `oci-layout://DIR[:TAG]`
// or `oci-layout://DIR@sha256:HEX`, or a local directory. Git URLs are fetched by the caller
// and passed as the directory they were fetched into; other URLs are refused.
absl::StatusOr<std::pair<std::string, NamedContext>> ParseNamedContext(absl::string_view spec);

}  // namespace kiln::builder

#endif  // KILN_BUILDER_NAMED_CONTEXT_H_
