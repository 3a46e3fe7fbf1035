#include "builder/run_step.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <deque>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "base/copy_tree.h"
#include "base/file_util.h"
#include "base/in_root.h"
#include "base/io.h"
#include "base/status_macros.h"
#include "base/unique_fd.h"
#include "builder/dockerfile/quote.h"
#include "builder/dockerfile/run_mount.h"
#include "builder/history.h"
#include "builder/image_path.h"
#include "builder/layered_fs.h"
#include "builder/normalize.h"
#include "builder/run_command.h"
#include "builder/sandbox/sandbox.h"
#include "builder/secrets.h"
#include "builder/ssh_agent.h"
#include "builder/user.h"

namespace kiln::builder {
namespace {

absl::StatusOr<UniqueFd> MemoryFile(const char* name, absl::string_view content) {
  UniqueFd fd(::memfd_create(name, MFD_CLOEXEC));
  if (!fd.valid()) return ErrnoError("memfd_create");
  RETURN_IF_ERROR(WriteAll(fd.get(), content));
  if (::lseek(fd.get(), 0, SEEK_SET) != 0) return ErrnoError("rewind the heredoc");
  return fd;
}

// The stage's build args as a RUN's history lists them: in the order declared, an ENV of
// the same name taking precedence.
std::vector<std::pair<std::string, std::string>> BuildArgs(const StageRun& run,
                                                           const oci::ContainerConfig& c) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const std::string& name : run.arg_names) {
    auto it = run.args.find(name);
    std::string value = it == run.args.end() ? "" : it->second;
    for (const std::string& e : c.env) {
      if (absl::StartsWith(e, name + "=")) value = e.substr(name.size() + 1);
    }
    out.emplace_back(name, std::move(value));
  }
  return out;
}

// The host path of `source` in the build context, a stage or an image (a bind mount's
// source, a cache's seed), resolved inside that root.
absl::StatusOr<std::string> MountSource(BuildSession& session, const std::string& from,
                                        int from_stage, const std::string& source,
                                        const StageRun& run) {
  std::string root = session.context().dir();
  if (const context::BuildContext* dir = session.NamedDir(from, from_stage)) {
    root = dir->dir();
  } else if (!from.empty()) {
    ASSIGN_OR_RETURN(ImageState from_state, session.SourceState(from, from_stage, run));
    ASSIGN_OR_RETURN(root, session.Materialize(from_state));
  }
  UniqueFd root_fd(::open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!root_fd.valid()) return ErrnoError("open " + root);
  ASSIGN_OR_RETURN_CTX(UniqueFd fd,
                       OpenInRoot(root_fd.get(), source.empty() ? "." : source, O_PATH),
                       "--mount source \"", source, "\"");
  char real[4096];
  std::string proc = absl::StrCat("/proc/self/fd/", fd.get());
  ssize_t n = ::readlink(proc.c_str(), real, sizeof real - 1);
  if (n < 0) return ErrnoError("resolve --mount source");
  return std::string(real, n);
}

// Makes a cache directory whole beside its place (seeded from from=, with uid, gid and
// mode: root's, 0755 by default), then renames it there: a failed seed leaves no cache.
// Unique in the process too: stages running at once may make the same cache.
absl::Status MakeCacheMount(BuildSession& session, const dockerfile::RunMount& m, int from_stage,
                            const std::string& dir, const StageRun& run) {
  std::string fresh = absl::StrCat(dir, ".new-", ::getpid(), "-", session.NextSeq());
  (void)RemoveAll(fresh);
  RETURN_IF_ERROR(MakeDirs(Dirname(fresh), 0755));
  if (!m.from.empty()) {
    ASSIGN_OR_RETURN(std::string seed, MountSource(session, m.from, from_stage, m.source, run));
    RETURN_IF_ERROR_CTX(CopyTree(seed, fresh), "seeding the cache from ", m.from);
  } else if (::mkdir(fresh.c_str(), 0755) != 0) {
    return ErrnoError("mkdir " + fresh);
  }
  if ((m.uid || m.gid) && ::lchown(fresh.c_str(), m.uid.value_or(0), m.gid.value_or(0)) != 0) {
    return ErrnoError("chown " + fresh);
  }
  if (m.mode && ::chmod(fresh.c_str(), *m.mode & 07777) != 0) {
    return ErrnoError("chmod " + fresh);
  }
  if (::rename(fresh.c_str(), dir.c_str()) != 0) {
    int err = errno;
    (void)RemoveAll(fresh);
    // Another build made it meanwhile: use that one.
    if (err != ENOTEMPTY && err != EEXIST) return ErrnoError("rename " + fresh, err);
  }
  return absl::OkStatus();
}

// A cache mount's directory: `cache-mounts/<hex of its key>` of the store, kept across
// builds and never part of a layer. One cache per id (default: the target) and base: uid,
// gid, mode and from= make caches of their own. A step run without the build cache starts
// from an empty cache, as in BuildKit (once a build: stages running at once share it).
absl::StatusOr<std::string> CacheMount(BuildSession& session, const dockerfile::RunMount& m,
                                       int from_stage, const std::string& target,
                                       const StageRun& run) {
  std::string key = m.id.empty() ? target : m.id;
  if (m.uid || m.gid || m.mode) {
    absl::StrAppend(&key, "\nowner ", m.uid.value_or(0), ":", m.gid.value_or(0), " mode ",
                    m.mode.value_or(0755));
  }
  if (!m.from.empty()) {
    ASSIGN_OR_RETURN(std::string from, session.SourceKey(m.from, from_stage,
                                                         {m.source.empty() ? "." : m.source}, run));
    absl::StrAppend(&key, "\nfrom ", from, " ", m.source);
  }
  std::string dir = session.store().CacheMountDir(oci::Digest::Of(key).hex());
  if (session.NoCacheFor(run.stage) && session.FirstTime("cache-mount " + dir) && PathExists(dir)) {
    std::string old = absl::StrCat(dir, ".old-", ::getpid(), "-", session.NextSeq());
    (void)RemoveAll(old);
    if (::rename(dir.c_str(), old.c_str()) != 0) return ErrnoError("rename " + dir);
    RETURN_IF_ERROR(RemoveAll(old));
  }
  if (!PathExists(dir)) RETURN_IF_ERROR(MakeCacheMount(session, m, from_stage, dir, run));
  return dir;
}

// What a step's mounts add beyond the mounts: variables (secrets with env=, SSH_AUTH_SOCK)
// and the agent forwards, kept until the step is done.
struct StepExtras {
  std::vector<std::string> env;
  std::vector<std::unique_ptr<AgentForward>> forwards;
};

// RUN --mount=type=secret as BuildKit mounts it: the secret `id` (else `source`, else the
// target's last segment) as a file (`target`, default /run/secrets/ID, mode 0400 of root
// unless given), or, with `env=` and no target, only as that variable. A secret the build
// was not given is an error when `required`, else nothing is mounted.
absl::Status SecretMount(const BuildSession& session, const dockerfile::RunMount& m,
                         const std::string& workdir, std::vector<sandbox::SandboxMount>* mounts,
                         StepExtras* extras) {
  std::string id = !m.id.empty() ? m.id : !m.source.empty() ? m.source : Basename(m.target);
  const Secrets& secrets = session.request().secrets;
  auto it = secrets.find(id);
  if (it == secrets.end()) {
    if (m.required) return absl::NotFoundError(absl::StrCat("secret ", id, ": not provided"));
    return absl::OkStatus();
  }
  if (m.env) extras->env.push_back(absl::StrCat(*m.env, "=", it->second));
  if (m.env && m.target.empty()) return absl::OkStatus();
  sandbox::SandboxMount mount;
  mount.type = sandbox::SandboxMount::Type::kFile;
  mount.target = m.target.empty() ? "/run/secrets/" + Basename(id)
                                  : CleanAbsolute(JoinPath(workdir, m.target));
  mount.read_only = true;
  mount.data = it->second;
  mount.mode = m.mode.value_or(0400);
  mount.uid = m.uid.value_or(0);
  mount.gid = m.gid.value_or(0);
  mounts->push_back(std::move(mount));
  return absl::OkStatus();
}

// RUN --mount=type=ssh as BuildKit mounts it: a socket of the step's own relayed to the agent
// --ssh named `id` (default "default") at `target` (default /run/buildkit/ssh_agent.N, N
// counting the step's ssh mounts), mode 0600 of root unless given; SSH_AUTH_SOCK names the
// first. An agent the build was not given is an error when `required`, else nothing is
// mounted.
absl::Status SshMount(BuildSession& session, const dockerfile::RunMount& m,
                      const std::string& workdir, const std::string& scratch,
                      std::vector<sandbox::SandboxMount>* mounts, StepExtras* extras) {
  const std::string id = m.id.empty() ? "default" : m.id;
  std::optional<std::string> agent = session.SshAgentSocket(id);
  if (!agent) {
    if (m.required) {
      return absl::NotFoundError(
          absl::StrCat("ssh agent ", id, ": not provided (--ssh ", id, "=SOCKET|KEYFILE)"));
    }
    return absl::OkStatus();
  }
  const size_t n = extras->forwards.size();
  std::string socket = absl::StrCat(scratch, "/ssh-", n, ".sock");
  ASSIGN_OR_RETURN(std::unique_ptr<AgentForward> forward,
                   AgentForward::Start(*agent, socket, m.uid.value_or(0), m.gid.value_or(0),
                                       m.mode.value_or(0600)));
  extras->forwards.push_back(std::move(forward));
  sandbox::SandboxMount mount;
  mount.source = socket;
  mount.target = m.target.empty() ? absl::StrCat("/run/buildkit/ssh_agent.", n)
                                  : CleanAbsolute(JoinPath(workdir, m.target));
  mount.read_only = true;
  if (n == 0) extras->env.push_back("SSH_AUTH_SOCK=" + mount.target);
  mounts->push_back(std::move(mount));
  return absl::OkStatus();
}

// RUN --mount: what the sandbox mounts for it, as BuildKit mounts it. Targets are relative
// to the working directory. `scratch` is a directory of the step's own for rw bind copies;
// `extras` gains what the mounts add beyond mounts.
// Long by design: one case per mount type, each short.
absl::StatusOr<std::vector<sandbox::SandboxMount>> RunMounts(
    BuildSession& session, const PlannedInstruction& p, const StageRun& run,
    const ImageState& state, const std::string& scratch, StepExtras* extras) {
  std::vector<sandbox::SandboxMount> mounts;
  const std::string workdir =
      state.config.config.working_dir.empty() ? "/" : state.config.config.working_dir;
  for (size_t i = 0; i < p.mounts.size(); ++i) {
    const dockerfile::RunMount& m = p.mounts[i];
    const int from_stage = p.mount_from_stages[i];
    if (m.type == dockerfile::MountType::kSsh) {
      RETURN_IF_ERROR(SshMount(session, m, workdir, scratch, &mounts, extras));
      continue;
    }
    if (m.type == dockerfile::MountType::kSecret) {
      RETURN_IF_ERROR(SecretMount(session, m, workdir, &mounts, extras));
      continue;
    }
    sandbox::SandboxMount mount;
    mount.target = CleanAbsolute(JoinPath(workdir, m.target));
    if (mount.target == "/") {
      return absl::InvalidArgumentError(
          absl::StrCat("invalid mount target ", dockerfile::GoQuote(mount.target)));
    }
    mount.read_only = m.read_only;
    switch (m.type) {
      case dockerfile::MountType::kTmpfs:
        mount.type = sandbox::SandboxMount::Type::kTmpfs;
        mount.size = m.size.value_or(0);
        break;
      case dockerfile::MountType::kCache: {
        ASSIGN_OR_RETURN(mount.source, CacheMount(session, m, from_stage, mount.target, run));
        break;
      }
      case dockerfile::MountType::kBind: {
        ASSIGN_OR_RETURN(mount.source, MountSource(session, m.from, from_stage, m.source, run));
        if (!m.read_only) {
          // Writable, with nothing kept: a copy of its own, removed with the step.
          std::string copy = absl::StrCat(scratch, "/mount-", i);
          RETURN_IF_ERROR(MakeDirs(scratch));
          (void)RemoveAll(copy);
          RETURN_IF_ERROR_CTX(CopyTree(mount.source, copy), "copying the --mount source");
          mount.source = copy;
        }
        break;
      }
      default:
        break;  // handled above
    }
    mounts.push_back(std::move(mount));
  }
  return mounts;
}

// The paths a step's mounts will create in its root because the image lacks them (a
// target and its missing parents, deepest first): after the run, the ones still empty are
// taken out of the step's changes, so a mount leaves no trace, as with BuildKit.
absl::StatusOr<std::vector<std::string>> MountStubs(
    const std::vector<sandbox::SandboxMount>& mounts, const LayeredFs& image) {
  std::vector<std::string> stubs;
  for (const sandbox::SandboxMount& m : mounts) {
    std::string path = m.target;
    while (path != "/" && !path.empty()) {
      ASSIGN_OR_RETURN(std::string parent, image.Resolve(Dirname(path), /*follow_last=*/true));
      std::string placed = JoinPath(parent, path.substr(path.rfind('/') + 1));
      if (image.Lookup(placed)) break;
      stubs.push_back(placed);
      path = Dirname(path);
    }
  }
  return stubs;
}

void RemoveMountStubs(const std::vector<std::string>& stubs, const std::string& upper) {
  for (const std::string& stub : stubs) {
    std::string path = upper + stub;
    struct stat st;
    if (::lstat(path.c_str(), &st) != 0) continue;
    if (S_ISDIR(st.st_mode)) {
      ::rmdir(path.c_str());  // only when empty
    } else if (S_ISREG(st.st_mode) && st.st_size == 0) {
      ::unlink(path.c_str());
    }
  }
}

// What a step prints with a secret's bytes in it (a line of the secret at least 4 bytes
// long) is shown with "****" in their place, in progress and in error messages alike.
std::vector<std::pair<std::string, std::string>> SecretMasks(const Secrets& secrets) {
  std::vector<std::pair<std::string, std::string>> masks;
  for (const auto& [id, value] : secrets) {
    for (absl::string_view part : absl::StrSplit(value, '\n')) {
      part = absl::StripAsciiWhitespace(part);
      if (part.size() >= 4) masks.emplace_back(part, "****");
    }
  }
  return masks;
}

// Runs the step's process with its stdout and stderr read line by line into kStepOutput
// events (on a thread of its own, so a chatty step never blocks); `tail` keeps the last ten
// lines for the error message.
absl::StatusOr<sandbox::SandboxResult> RunWithOutput(const BuildSession& session,
                                                     const StageRun& run,
                                                     sandbox::SandboxSpec& spec,
                                                     std::deque<std::string>* tail_out) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return ErrnoError("pipe");
  UniqueFd read_end(fds[0]), write_end(fds[1]);
  spec.stdout_fd = spec.stderr_fd = write_end.get();
  std::deque<std::string>& tail = *tail_out;
  const std::vector<std::pair<std::string, std::string>> masks =
      SecretMasks(session.request().secrets);
  auto line_out = [&](std::string line) {
    if (!masks.empty()) absl::StrReplaceAll(masks, &line);
    session.Event(&run, BuildEvent::Kind::kStepOutput, [&](BuildEvent& e) { e.text = line; });
    tail.push_back(line);
    if (tail.size() > 10) tail.pop_front();
  };
  std::thread reader([&] {
    std::string partial;
    char buf[4096];
    while (true) {
      ssize_t n = ::read(read_end.get(), buf, sizeof buf);
      if (n <= 0) break;
      partial.append(buf, n);
      size_t nl;
      while ((nl = partial.find('\n')) != std::string::npos) {
        line_out(partial.substr(0, nl));
        partial.erase(0, nl + 1);
      }
    }
    if (!partial.empty()) line_out(partial);
  });
  absl::StatusOr<sandbox::SandboxResult> result = sandbox::RunInSandbox(spec);
  write_end.Reset();
  reader.join();
  return result;
}

// The sandbox of the step: the image's layers below an upper directory of the step's own,
// its mounts, command and stdin.
absl::StatusOr<sandbox::SandboxSpec> SpecOf(BuildSession& session, const PlannedInstruction& p,
                                            const StageRun& run, const ImageState& state,
                                            const RunCommand& command, int stdin_fd,
                                            StepExtras* extras) {
  const std::string dir = session.StepDir(run);
  sandbox::SandboxSpec spec;
  ASSIGN_OR_RETURN(spec.mounts, RunMounts(session, p, run, state, dir + "/mounts", extras));
  ASSIGN_OR_RETURN(spec.lower_dirs, session.LowerDirs(state));
  spec.upper_dir = dir + "/upper";
  spec.work_dir = dir + "/work";
  spec.root_mount = dir + "/root";
  RETURN_IF_ERROR(MakeDirs(spec.upper_dir));
  RETURN_IF_ERROR(MakeDirs(spec.work_dir));
  spec.argv = command.argv;
  spec.stdin_fd = stdin_fd;
  const oci::ContainerConfig& c = state.config.config;
  spec.cwd = c.working_dir.empty() ? "/" : c.working_dir;
  return spec;
}

}  // namespace

absl::Status RunStep(BuildSession& session, const PlannedInstruction& p, const StageRun& run,
                     ImageState* state) {
  const oci::ContainerConfig& c = state->config.config;
  ASSIGN_OR_RETURN(RunCommand command, CommandOf(p, c));
  UniqueFd script_fd;  // the step's stdin, when it runs a heredoc with a #! line
  if (command.has_stdin_script) {
    ASSIGN_OR_RETURN(script_fd, MemoryFile("heredoc", command.stdin_script));
  }
  StepExtras extras;  // secrets as variables, ssh agent forwards
  ASSIGN_OR_RETURN(
      sandbox::SandboxSpec spec,
      SpecOf(session, p, run, *state, command, script_fd.valid() ? script_fd.get() : -1, &extras));
  ASSIGN_OR_RETURN(std::unique_ptr<StepResources> resources,
                   session.sandboxes()->Prepare(p.flags, &spec));
  ASSIGN_OR_RETURN(spec.binfmt, session.sandboxes()->EmulationFor(run.stage.runs_on));
  if (!spec.binfmt.empty() && session.FirstTime("emulation " + run.stage.runs_on.str())) {
    session.Message(
        absl::StrCat("RUN steps for ", run.stage.runs_on.str(), " run under QEMU emulation"), &run);
  }
  const LayeredFs image(spec.lower_dirs);
  ASSIGN_OR_RETURN(std::vector<std::string> stubs, MountStubs(spec.mounts, image));
  ASSIGN_OR_RETURN(ResolvedUser user, ResolveUser(c.user, [&](const std::string& path) {
                     return image.ReadFile(path);
                   }));
  spec.uid = user.uid;
  spec.gid = user.gid;
  spec.groups = user.groups;
  // Proxy build arguments stay out of the step's key (they are not in run.args).
  spec.env = RunEnvironment(session.request().build_args, run.args, c.env, user.home,
                            session.request().source_date_epoch);
  for (std::string& e : extras.env) spec.env.push_back(std::move(e));
  std::deque<std::string> tail;
  ASSIGN_OR_RETURN(sandbox::SandboxResult result, RunWithOutput(session, run, spec, &tail));
  extras.forwards.clear();  // the agent is the step's only while it runs
  if (result.exit_code != 0) {
    if (std::optional<std::string> oom = resources->OutOfMemory()) {
      return absl::ResourceExhaustedError(*oom);
    }
    resources.reset();
    return absl::AbortedError(
        absl::StrCat("process ", dockerfile::GoQuote(absl::StrJoin(spec.argv, " ")),
                     " did not complete successfully: exit code: ", result.exit_code,
                     tail.empty() ? "" : "; last output:\n  " + absl::StrJoin(tail, "\n  ")));
  }
  resources.reset();  // the network and cgroup go back before the layer is written
  (void)RemoveAll(session.StepDir(run) + "/mounts");
  RemoveMountStubs(stubs, spec.upper_dir);
  std::string normalized;
  if (session.request().normalize) {
    ASSIGN_OR_RETURN(
        std::vector<Normalized> changes,
        NormalizeRunDiff(spec.upper_dir, spec.lower_dirs, session.request().source_date_epoch));
    normalized = NormalizedSummary(changes);
    if (!normalized.empty()) session.Message(normalized, &run);
  }
  return session.CommitDiff(run, spec.upper_dir, /*overlay=*/true,
                            RunCreatedBy(command.argv, BuildArgs(run, c)), state, normalized);
}

}  // namespace kiln::builder
