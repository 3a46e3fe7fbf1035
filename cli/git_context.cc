#include "cli/git_context.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "base/spawn_attr.h"
#include "base/status_macros.h"
#include "base/unique_fd.h"

extern char** environ;

namespace kiln::cli {
namespace {

struct GitRun {
  int exit_code = 0;
  std::string out;  // stdout and stderr, at most 1 MiB
};

// Runs git with `args`, only the protocols a context may use allowed, no terminal prompts.
absl::StatusOr<GitRun> RunGit(const std::vector<std::string>& args) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return absl::InternalError("pipe");
  UniqueFd r(fds[0]), w(fds[1]);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, w.get(), 1);
  posix_spawn_file_actions_adddup2(&actions, w.get(), 2);
  std::vector<char*> argv = {const_cast<char*>("git")};
  for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::vector<std::string> env_strings = {"GIT_ALLOW_PROTOCOL=file:git:http:https:ssh",
                                          "GIT_TERMINAL_PROMPT=0", "GIT_CONFIG_NOSYSTEM=1"};
  std::vector<char*> env;
  for (char** e = environ; *e != nullptr; ++e) {
    if (!absl::StartsWith(*e, "GIT_")) env.push_back(*e);
  }
  for (std::string& e : env_strings) env.push_back(e.data());
  env.push_back(nullptr);
  pid_t pid = 0;
  int rc = posix_spawnp(&pid, "git", &actions, SpawnAttr().get(), argv.data(), env.data());
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    return absl::FailedPreconditionError(absl::StrCat("cannot run git (", std::strerror(rc),
                                                      "): install Debian's git for git contexts"));
  }
  w.Reset();
  GitRun result;
  char buf[4096];
  while (true) {
    ssize_t n = ::read(r.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    if (result.out.size() < (1 << 20)) result.out.append(buf, n);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128;
  return result;
}

// The last line git printed, for an error message.
std::string LastLine(const std::string& out) {
  std::vector<absl::string_view> lines =
      absl::StrSplit(absl::StripTrailingAsciiWhitespace(out), '\n');
  return lines.empty() ? "" : std::string(absl::StripAsciiWhitespace(lines.back()));
}

absl::Status Git(const std::vector<std::string>& args, const std::string& what) {
  ASSIGN_OR_RETURN(GitRun r, RunGit(args));
  if (r.exit_code != 0) {
    return absl::UnavailableError(absl::StrCat(what, ": ", LastLine(r.out)));
  }
  return absl::OkStatus();
}

bool IsGitUrl(absl::string_view url) {
  if (absl::StartsWith(url, "git@") || absl::StartsWith(url, "git://") ||
      absl::StartsWith(url, "ssh://")) {
    return true;
  }
  if (!absl::StartsWith(url, "https://") && !absl::StartsWith(url, "http://") &&
      !absl::StartsWith(url, "file://")) {
    return false;
  }
  absl::string_view path = url.substr(0, url.find('#'));
  return absl::EndsWith(path, ".git") || absl::EndsWith(path, ".git/") ||
         (absl::StartsWith(url, "file://") && url.find('#') != absl::string_view::npos);
}

}  // namespace

absl::StatusOr<std::optional<GitContext>> ParseGitContext(const std::string& text) {
  if (!IsGitUrl(text)) return std::nullopt;
  GitContext g;
  std::pair<std::string, std::string> parts = absl::StrSplit(text, absl::MaxSplits('#', 1));
  g.remote = parts.first;
  std::pair<std::string, std::string> frag = absl::StrSplit(parts.second, absl::MaxSplits(':', 1));
  g.ref = frag.first;
  g.subdir = std::string(absl::StripSuffix(absl::StripPrefix(frag.second, "/"), "/"));
  if (absl::StartsWith(g.ref, "-") || absl::StrContains(g.ref, "..")) {
    return absl::InvalidArgumentError(
        absl::StrCat("git context ", text, ": bad ref \"", g.ref, "\""));
  }
  for (absl::string_view part : absl::StrSplit(g.subdir, '/', absl::SkipEmpty())) {
    if (part == "..") {
      return absl::InvalidArgumentError(
          absl::StrCat("git context ", text, ": the subdirectory leaves the repository"));
    }
  }
  return g;
}

absl::StatusOr<ClonedContext> CloneGitContext(const GitContext& g, const std::string& dir) {
  const std::string git_dir = dir + "/git", tree = dir + "/tree";
  const std::string what = absl::StrCat("git context ", g.remote, g.ref.empty() ? "" : "#", g.ref);
  if (::mkdir(tree.c_str(), 0755) != 0) return absl::InternalError("mkdir " + tree);
  const std::vector<std::string> base = {"--git-dir=" + git_dir, "--work-tree=" + tree};
  auto with = [&](std::vector<std::string> args) {
    args.insert(args.begin(), base.begin(), base.end());
    return args;
  };
  // A repository apart from its work tree, so `.git` is not in the context.
  RETURN_IF_ERROR(Git({"init", "-q", "--bare", git_dir}, what));
  RETURN_IF_ERROR(Git({"--git-dir=" + git_dir, "config", "core.bare", "false"}, what));
  const std::string ref = g.ref.empty() ? "HEAD" : g.ref;
  // A branch or tag at depth 1; a commit the server does not advertise needs the history.
  if (!Git(with({"fetch", "-q", "--depth=1", "--", g.remote, ref}), what).ok()) {
    RETURN_IF_ERROR(
        Git(with({"fetch", "-q", "--tags", "--", g.remote, "+refs/heads/*:refs/remotes/origin/*"}),
            what));
    RETURN_IF_ERROR(Git(with({"update-ref", "FETCH_HEAD", ref + "^{commit}"}), what));
  }
  RETURN_IF_ERROR(Git(with({"checkout", "-q", "-f", "FETCH_HEAD", "--", "."}), what));
  struct stat st;
  if (::lstat((tree + "/.gitmodules").c_str(), &st) == 0) {
    std::vector<std::string> args = with({"submodule", "-q", "update", "--init", "--recursive"});
    args.insert(args.begin(), {"-C", tree});
    RETURN_IF_ERROR(Git(args, what + " (submodules)"));
  }
  ClonedContext out;
  ASSIGN_OR_RETURN(GitRun log, RunGit(with({"log", "-1", "--format=%ct", "FETCH_HEAD"})));
  if (log.exit_code != 0 ||
      !absl::SimpleAtoi(absl::StripAsciiWhitespace(log.out), &out.commit_time)) {
    return absl::UnavailableError(absl::StrCat(what, ": no commit time"));
  }
  out.context_dir = g.subdir.empty() ? tree : tree + "/" + g.subdir;
  if (::lstat(out.context_dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return absl::NotFoundError(
        absl::StrCat(what, ": no directory \"", g.subdir, "\" in the repository"));
  }
  return out;
}

std::optional<int64_t> GitCommitTime(const std::string& dir) {
  absl::StatusOr<GitRun> r = RunGit({"-C", dir, "log", "-1", "--format=%ct"});
  int64_t t;
  if (!r.ok() || r->exit_code != 0 || !absl::SimpleAtoi(absl::StripAsciiWhitespace(r->out), &t)) {
    return std::nullopt;
  }
  return t;
}

}  // namespace kiln::cli
