// kiln run [OPTIONS] IMAGE [COMMAND [ARG...]]: a throwaway container over a stored image, in
// the sandbox RUN steps get (builder/container.h), as `docker run --rm` runs one: the
// command's output on kiln's, its exit status kiln's. kiln keeps no containers, so every run
// is --rm (the flag is taken) and -d/--name are refused with the reason.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "base/file_util.h"
#include "base/status_macros.h"
#include "builder/container.h"
#include "cli/common.h"
#include "cli/sandbox_flags.h"
#include "transfer/transports.h"

namespace kiln::cli {
namespace {

struct RunOptions {
  std::vector<std::string> env, env_files, volumes, tmpfs;
  std::string user, workdir, platform, name;
  std::optional<std::string> entrypoint;
  bool rm = false, interactive = false, tty = false, detach = false;
  SandboxFlags sandbox;
};

// -e KEY=VALUE, or -e KEY for the variable's value here (left out when unset), as Docker does.
absl::Status AddVariable(const std::string& flag, absl::string_view entry,
                         std::vector<std::string>* out) {
  const size_t eq = entry.find('=');
  const absl::string_view key = entry.substr(0, std::min(eq, entry.size()));
  if (key.empty() || absl::StrContains(key, ' ')) {
    return absl::InvalidArgumentError(
        absl::StrCat(flag, " ", entry, ": want KEY=VALUE or KEY (a name without spaces)"));
  }
  if (eq != absl::string_view::npos) {
    out->emplace_back(entry);
  } else if (const char* value = std::getenv(std::string(key).c_str())) {
    out->push_back(absl::StrCat(key, "=", value));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::string>> Environment(const RunOptions& o) {
  std::vector<std::string> env;
  // Docker reads --env-file first, so -e wins over it.
  for (const std::string& file : o.env_files) {
    ASSIGN_OR_RETURN_CTX(std::string text, ReadFile(file, 1 << 20), "--env-file ", file);
    int line_no = 0;
    for (absl::string_view line : absl::StrSplit(text, '\n')) {
      ++line_no;
      line = absl::StripTrailingAsciiWhitespace(line);
      if (absl::StripLeadingAsciiWhitespace(line).empty() || line.front() == '#') continue;
      RETURN_IF_ERROR(AddVariable(absl::StrCat("--env-file ", file, ":", line_no), line, &env));
    }
  }
  for (const std::string& e : o.env) RETURN_IF_ERROR(AddVariable("-e", e, &env));
  return env;
}

absl::Status RunRun(Globals& g, const RunOptions& o, const std::vector<std::string>& args) {
  if (o.detach) {
    return absl::InvalidArgumentError(
        "-d: kiln keeps no containers; a container runs in the foreground and is gone when its "
        "command exits");
  }
  if (!o.name.empty()) {
    return absl::InvalidArgumentError("--name: kiln keeps no containers to name");
  }
  if (o.tty) {
    return absl::InvalidArgumentError(
        "-t: kiln gives containers no terminal; -i passes stdin through");
  }
  if (args.empty()) return absl::InvalidArgumentError("kiln run wants an IMAGE");
  builder::ContainerOptions c;
  c.command.assign(args.begin() + 1, args.end());
  if (o.entrypoint) {
    c.entrypoint = o.entrypoint->empty() ? std::vector<std::string>{}
                                         : std::vector<std::string>{*o.entrypoint};
  }
  ASSIGN_OR_RETURN(c.env, Environment(o));
  for (const std::string& v : o.volumes) {
    ASSIGN_OR_RETURN(builder::Volume volume, builder::ParseVolume(v));
    c.volumes.push_back(std::move(volume));
  }
  for (const std::string& t : o.tmpfs) {
    ASSIGN_OR_RETURN(builder::Volume volume, builder::ParseVolume(t));
    if (!volume.host.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("--tmpfs ", t, ": want a container path"));
    }
    c.volumes.push_back(std::move(volume));
  }
  c.user = o.user;
  c.workdir = o.workdir;
  c.sandbox = o.sandbox.Options();
  c.interactive = o.interactive;
  if (!o.platform.empty()) {
    ASSIGN_OR_RETURN(c.platform, oci::Platform::Parse(o.platform));
  }
  ASSIGN_OR_RETURN(std::unique_ptr<layers::Store> store, OpenStore(g));
  absl::StatusOr<oci::Descriptor> desc = store->Resolve(args[0]);
  if (!desc.ok()) {
    return absl::NotFoundError(
        absl::StrCat("no image ", args[0], " in the store (kiln pull ", args[0], " first)"));
  }
  auto source = transfer::NewStoreSource(store.get(), *desc, {});
  ASSIGN_OR_RETURN_CTX(layers::LoadedImage image, layers::LoadImage(*source, c.platform), args[0]);
  absl::StatusOr<builder::ContainerResult> result = builder::RunContainer(*store, image, c);
  if (!result.ok()) {
    // Docker's codes: 126 a command that cannot be run, 127 one not found, 125 kiln's own.
    const std::string message(result.status().message());
    if (absl::StartsWith(message, "sandbox: exec ")) {
      std::fprintf(stderr, "kiln: %s\n", message.substr(9).c_str());
      g.error_reported = true;
      g.exit_code = absl::StrContains(message, "No such file") ? 127 : 126;
      return absl::OkStatus();
    }
    return result.status();
  }
  if (result->out_of_memory) {
    std::fprintf(
        stderr, "kiln: the container was killed: %s\n",
        std::string(absl::StripPrefix(*result->out_of_memory, "RUN was killed: ")).c_str());
  }
  g.exit_code = result->exit_code;
  return absl::OkStatus();
}

}  // namespace

void AddRunCommand(CLI::App& app, Globals& g) {
  auto o = std::make_shared<RunOptions>();
  CLI::App* cmd = app.add_subcommand(
      "run", "Run a command in a throwaway container over an image (nothing is kept)");
  cmd->footer(
      "kiln run [OPTIONS] IMAGE [COMMAND [ARG...]]: kiln's options come before the image; what "
      "follows it is the container's command.");
  // IMAGE and what follows it are the container's: kiln's flags come before the image.
  cmd->prefix_command();
  cmd->fallthrough(false);
  cmd->add_flag("--rm", o->rm, "Remove the container when it exits (always: kiln keeps none)");
  cmd->add_flag("-i,--interactive", o->interactive, "Give the command kiln's stdin");
  cmd->add_flag("-t,--tty", o->tty, "Not supported: kiln gives containers no terminal");
  cmd->add_flag("-d,--detach", o->detach, "Not supported: kiln keeps no containers");
  cmd->add_option("--name", o->name, "Not supported: kiln keeps no containers");
  cmd->add_option("-e,--env", o->env, "KEY=VALUE, or KEY for its value here (repeatable)")
      ->allow_extra_args(false);
  cmd->add_option("--env-file", o->env_files, "A file of KEY=VALUE lines (repeatable)")
      ->allow_extra_args(false);
  cmd->add_option("-v,--volume", o->volumes,
                  "HOST:CONTAINER[:ro|rw] binds a host path in (made when missing); CONTAINER "
                  "alone is an empty scratch directory (repeatable)")
      ->allow_extra_args(false);
  cmd->add_option("--tmpfs", o->tmpfs, "An empty tmpfs at this container path (repeatable)")
      ->allow_extra_args(false);
  cmd->add_option("-u,--user", o->user, "USER[:GROUP] (names or ids) instead of the image's");
  cmd->add_option("-w,--workdir", o->workdir, "Working directory instead of the image's");
  cmd->add_option("--entrypoint", o->entrypoint,
                  "Run this instead of the image's ENTRYPOINT (\"\" for none)");
  cmd->add_option("--platform", o->platform,
                  "The image of a multi-platform image to run (foreign ones under QEMU)");
  AddSandboxFlags(cmd, &o->sandbox, "the container");
  cmd->callback([&g, o, cmd] {
    std::vector<std::string> args = cmd->remaining();
    if (!args.empty() && args.front() == "--") args.erase(args.begin());
    g.run = [&g, o, args] {
      absl::Status status = RunRun(g, *o, args);
      if (!status.ok()) g.exit_code = 125;  // kiln's own failure, as docker run's
      return status;
    };
  });
}

}  // namespace kiln::cli
