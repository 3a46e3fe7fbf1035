// Where `kiln build` reads its Dockerfile and context when they are not files, as `docker
// build` does: `-f -` reads the Dockerfile from stdin; a context of `-` is stdin too, either a
// tar archive (any compression), unpacked into a directory of the build's own, or a
// Dockerfile with an empty context; a git URL is fetched (cli/git_context.h).
#ifndef KILN_CLI_BUILD_INPUT_H_
#define KILN_CLI_BUILD_INPUT_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "base/file_util.h"
#include "builder/named_context.h"

namespace kiln::cli {

// Unpacked contexts are at most this large (a bound on what stdin may fill the disk with).
inline constexpr uint64_t kMaxStdinContext = uint64_t{64} << 30;

struct BuildInput {
  std::string context_dir;
  std::string dockerfile;                      // a path, or "" for the default
  std::optional<std::string> dockerfile_text;  // read from stdin
  std::optional<TempDir> owned;                // the unpacked context, removed with this
  std::optional<int64_t> commit_time;          // a git context's commit
  builder::NamedContexts named_contexts;       // --build-context
  std::vector<TempDir> owned_contexts;         // the git repositories fetched for them
};

// `context` and `file` as given on the command line (a git URL context is fetched, and a
// relative `file` is then in it); stdin is read from `stdin_fd` (once:
// both cannot be `-`). Scratch space is made under `scratch_prefix`.
absl::StatusOr<BuildInput> ResolveBuildInput(const std::string& context, const std::string& file,
                                             int stdin_fd, const std::string& scratch_prefix);

// Adds the --build-context NAME=VALUE `specs` to `in` (see builder/named_context.h); a git
// URL VALUE is fetched as a git context is, into a directory under `scratch_prefix`.
absl::Status AddNamedContexts(const std::vector<std::string>& specs,
                              const std::string& scratch_prefix, BuildInput* in);

}  // namespace kiln::cli

#endif  // KILN_CLI_BUILD_INPUT_H_
