// Git repositories as build contexts, as `docker build` takes them: `https://host/repo.git`,
// `git@host:repo.git`, `git://host/repo`, `ssh://...`, or a `file://` URL of a repository,
// each with an optional `#REF:SUBDIR` (a branch, tag or commit; a directory in it). The
// repository is fetched with Debian's `git` (only the file, git, http(s) and ssh protocols)
// into a directory of the build's own; `.git` is not part of the context, and the source
// date defaults to the commit's time.
#ifndef KILN_CLI_GIT_CONTEXT_H_
#define KILN_CLI_GIT_CONTEXT_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace kiln::cli {

struct GitContext {
  std::string remote;
  std::string ref;     // "" for the remote's HEAD
  std::string subdir;  // "" for the top
};

// The git context `text` names, or nullopt when it is not a git URL. An error for a git URL
// whose fragment is bad (a ref starting with '-', a subdirectory leaving the repository).
absl::StatusOr<std::optional<GitContext>> ParseGitContext(const std::string& text);

struct ClonedContext {
  std::string context_dir;  // `dir`/tree or a directory in it
  int64_t commit_time = 0;
};
// Fetches the commit into `dir`/tree (the repository kept in `dir`/git).
absl::StatusOr<ClonedContext> CloneGitContext(const GitContext& git, const std::string& dir);

// The commit time of HEAD when `dir` is in a git work tree.
std::optional<int64_t> GitCommitTime(const std::string& dir);

}  // namespace kiln::cli

#endif  // KILN_CLI_GIT_CONTEXT_H_
