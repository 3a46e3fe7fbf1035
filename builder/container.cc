#include "builder/container.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <memory>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "base/file_util.h"
#include "base/status_macros.h"
#include "builder/image_path.h"
#include "builder/layered_fs.h"
#include "builder/sandbox/sandbox.h"
#include "builder/user.h"
#include "layers/snapshots.h"
#include "oci/image_config.h"

namespace kiln::builder {
namespace {

bool Absolute(absl::string_view path) { return !path.empty() && path.front() == '/'; }

// The variable's name in "KEY=value" (all of it when there is no '=').
absl::string_view KeyOf(absl::string_view entry) {
  return entry.substr(0, std::min(entry.find('='), entry.size()));
}

void SetVariable(std::vector<std::string>* env, std::string entry) {
  for (std::string& e : *env) {
    if (KeyOf(e) == KeyOf(entry)) {
      e = std::move(entry);
      return;
    }
  }
  env->push_back(std::move(entry));
}

// The host side of a volume: symlinks resolved (the sandbox binds what it names), made first
// when missing, as Docker makes it.
absl::StatusOr<std::string> HostPath(const std::string& host) {
  struct stat st;
  if (::stat(host.c_str(), &st) != 0) {
    if (errno != ENOENT) return ErrnoError("-v " + host);
    RETURN_IF_ERROR_CTX(MakeDirs(host, 0755), "-v ", host);
  }
  char* real = ::realpath(host.c_str(), nullptr);
  if (real == nullptr) return ErrnoError("-v " + host);
  std::string out(real);
  std::free(real);
  return out;
}

}  // namespace

absl::StatusOr<Volume> ParseVolume(absl::string_view text) {
  std::vector<std::string> parts = absl::StrSplit(text, ':');
  Volume v;
  if (parts.size() == 3) {
    if (parts[2] == "ro") {
      v.read_only = true;
    } else if (parts[2] != "rw") {
      return absl::InvalidArgumentError(
          absl::StrCat("-v ", text, ": invalid mode \"", parts[2], "\" (want ro or rw)"));
    }
    parts.pop_back();
  }
  if (parts.size() == 2) {
    v.host = parts[0];
    v.target = parts[1];
  } else if (parts.size() == 1) {
    v.target = parts[0];
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("-v ", text, ": want HOST:CONTAINER[:ro|rw] or CONTAINER"));
  }
  if (!v.host.empty() && !Absolute(v.host)) {
    return absl::InvalidArgumentError(
        absl::StrCat("-v ", text, ": the host path must be absolute (kiln has no named volumes)"));
  }
  if (!Absolute(v.target)) {
    return absl::InvalidArgumentError(
        absl::StrCat("-v ", text, ": the container path must be absolute"));
  }
  v.target = CleanAbsolute(v.target);
  if (v.target == "/") {
    return absl::InvalidArgumentError(absl::StrCat("-v ", text, ": cannot mount over /"));
  }
  return v;
}

absl::StatusOr<std::vector<std::string>> ContainerArgv(const oci::ContainerConfig& config,
                                                       const ContainerOptions& options) {
  std::vector<std::string> argv = options.entrypoint
                                      ? *options.entrypoint
                                      : config.entrypoint.value_or(std::vector<std::string>{});
  // Docker: a new entrypoint drops the image's CMD; a command given replaces it.
  if (!options.command.empty()) {
    argv.insert(argv.end(), options.command.begin(), options.command.end());
  } else if (!options.entrypoint && config.cmd) {
    argv.insert(argv.end(), config.cmd->begin(), config.cmd->end());
  }
  if (argv.empty()) {
    return absl::InvalidArgumentError(
        "no command: the image has no ENTRYPOINT or CMD (give one after the image)");
  }
  return argv;
}

std::vector<std::string> ContainerEnv(const std::vector<std::string>& image_env,
                                      const std::vector<std::string>& extra,
                                      const std::string& hostname, const std::string& home) {
  // As Docker lists them: PATH, HOSTNAME, the image's others, HOME.
  std::vector<std::string> env = {absl::StrCat("PATH=", oci::kDefaultPath), "HOSTNAME=" + hostname};
  bool has_home = false;
  for (const std::string& e : image_env) {
    has_home |= KeyOf(e) == "HOME";
    SetVariable(&env, e);
  }
  if (!has_home) env.push_back("HOME=" + home);
  for (const std::string& e : extra) SetVariable(&env, e);
  return env;
}

absl::StatusOr<ContainerResult> RunContainer(const layers::Store& store,
                                             const layers::LoadedImage& image,
                                             const ContainerOptions& options) {
  const oci::ContainerConfig& config = image.config.config;
  ASSIGN_OR_RETURN(std::vector<std::string> argv, ContainerArgv(config, options));
  if (image.config.diff_ids.size() != image.parsed.layers.size()) {
    return absl::DataLossError("the image's config does not list one DiffID per layer");
  }
  // gc keeps what this container's layers need while it runs.
  ASSIGN_OR_RETURN(layers::Store::Lock lock, store.LockShared());
  ASSIGN_OR_RETURN(std::string run_dir, store.RunDir());
  ASSIGN_OR_RETURN(TempDir dir, TempDir::Create(run_dir + "/run-"));
  sandbox::SandboxSpec spec;
  const layers::Snapshots snapshots(store.root());
  for (size_t i = image.parsed.layers.size(); i-- > 0;) {
    ASSIGN_OR_RETURN_CTX(
        std::string lower,
        snapshots.Get(store.blobs(), image.parsed.layers[i], image.config.diff_ids[i]),
        "unpacking layer ", image.parsed.layers[i].digest.str());
    spec.lower_dirs.push_back(std::move(lower));
  }
  spec.upper_dir = dir.path() + "/upper";
  spec.work_dir = dir.path() + "/work";
  spec.root_mount = dir.path() + "/root";
  RETURN_IF_ERROR(MakeDirs(spec.upper_dir));
  RETURN_IF_ERROR(MakeDirs(spec.work_dir));
  ASSIGN_OR_RETURN(std::unique_ptr<StepSandboxes> sandboxes,
                   StepSandboxes::Create(options.sandbox, dir.path()));
  ASSIGN_OR_RETURN(std::unique_ptr<StepResources> resources, sandboxes->Prepare({}, &spec));
  ASSIGN_OR_RETURN(spec.binfmt, sandboxes->EmulationFor(options.platform));

  const LayeredFs root(spec.lower_dirs);
  ASSIGN_OR_RETURN(ResolvedUser user,
                   ResolveUser(options.user.empty() ? config.user : options.user,
                               [&](const std::string& path) { return root.ReadFile(path); }));
  // The image's VOLUMEs exist in the container, as Docker's anonymous volumes make them.
  for (const std::string& v : config.volumes) {
    if (!Absolute(v)) continue;
    ASSIGN_OR_RETURN(std::string path, root.Resolve(CleanAbsolute(v), /*follow_last=*/true));
    if (path != "/" && !root.Lookup(path)) RETURN_IF_ERROR(MakeDirs(spec.upper_dir + path, 0755));
  }
  spec.uid = user.uid;
  spec.gid = user.gid;
  spec.groups = user.groups;
  spec.argv = std::move(argv);
  spec.env = ContainerEnv(config.env, options.env, spec.hostname, user.home);
  spec.cwd = !options.workdir.empty()      ? options.workdir
             : !config.working_dir.empty() ? config.working_dir
                                           : "/";
  if (!Absolute(spec.cwd)) {
    return absl::InvalidArgumentError(
        absl::StrCat("-w ", spec.cwd, ": the working directory must be absolute"));
  }
  for (const Volume& v : options.volumes) {
    sandbox::SandboxMount m;
    m.target = v.target;
    m.read_only = v.read_only;
    if (v.host.empty()) {
      m.type = sandbox::SandboxMount::Type::kTmpfs;
    } else {
      ASSIGN_OR_RETURN(m.source, HostPath(v.host));
    }
    spec.mounts.push_back(std::move(m));
  }
  spec.stdin_fd = options.interactive ? 0 : -1;
  spec.stdout_fd = 1;
  spec.stderr_fd = 2;
  ASSIGN_OR_RETURN(sandbox::SandboxResult result, sandbox::RunInSandbox(spec));
  ContainerResult out;
  out.exit_code = result.exit_code;
  if (result.exit_code != 0) out.out_of_memory = resources->OutOfMemory();
  return out;
}

}  // namespace kiln::builder
