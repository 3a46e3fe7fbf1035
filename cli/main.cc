// kiln: a daemonless container image builder and layer store. main() parses the command line
// and runs the one verb chosen; each verb lives in its own file.
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "base/interrupt.h"
#include "base/rootless.h"
#include "cli/command_line.h"
#include "cli/common.h"
#include "layers/store.h"

int main(int argc, char** argv) {
  // A pipe whose reader is gone (a step, a helper) is an EPIPE error, never the end of kiln.
  ::signal(SIGPIPE, SIG_IGN);
  kiln::cli::Globals g;
  CLI::App app{"kiln: build, store and move OCI container images without a daemon", "kiln"};
  app.option_defaults()->always_capture_default();
  app.add_option("--root", g.root,
                 "Store root (default: $KILN_ROOT, else /var/lib/kiln as root, else "
                 "~/.local/share/kiln)");
  app.require_subcommand(1);
  app.fallthrough();
  kiln::cli::AddBuildCommand(app, g);
  kiln::cli::AddRunCommand(app, g);
  kiln::cli::AddCopyCommand(app, g);
  kiln::cli::AddPullCommand(app, g);
  kiln::cli::AddPushCommand(app, g);
  kiln::cli::AddLoginCommands(app, g);
  kiln::cli::AddTagsCommand(app, g);
  kiln::cli::AddSignCommands(app, g);
  kiln::cli::AddSbomCommand(app, g);
  kiln::cli::AddImagesCommand(app, g);
  kiln::cli::AddInspectCommand(app, g);
  kiln::cli::AddDiffCommand(app, g);
  kiln::cli::AddRebaseCommand(app, g);
  kiln::cli::AddHistoryCommand(app, g);
  kiln::cli::AddSaveLoadCommands(app, g);
  kiln::cli::AddTagCommand(app, g);
  kiln::cli::AddRmiCommand(app, g);
  kiln::cli::AddGcCommand(app, g);
  kiln::cli::AddSystemCommand(app, g);
  kiln::cli::AddFsckCommand(app, g);
  kiln::cli::AddImageCommand(app, g);
  kiln::cli::AddLayerCommand(app, g);
  kiln::cli::AddDockerfileCommand(app, g);
  kiln::cli::AddVersionCommand(app, g);
  kiln::cli::AddCompletionCommand(app, g);
  app.set_version_flag("--version", std::string("kiln ") + kiln::cli::kVersion);
  // Docker's spellings first; a verb kiln lacks is one line saying what kiln calls it.
  std::vector<std::string> args =
      kiln::cli::KilnSpelling(std::vector<std::string>(argv, argv + argc));
  std::vector<std::string> verbs;
  for (const CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; })) {
    verbs.push_back(sub->get_name());
  }
  if (std::optional<std::string> unknown = kiln::cli::UnknownCommand(args, verbs)) {
    std::fprintf(stderr, "kiln: %s\n", unknown->c_str());
    return 2;
  }
  const size_t verb_at = kiln::cli::VerbIndex(args);
  const std::string typed = verb_at < args.size() ? args[verb_at] : "";
  try {
    std::vector<std::string> reversed(args.rbegin(), args.rend() - 1);  // CLI11's order
    app.parse(reversed);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::string message = e.what();
    const std::string where = typed.empty() ? "kiln" : "kiln " + typed;
    // "The following argument(s) was/were not expected: --x": the flag alone.
    if (size_t colon = message.find(" not expected: "); colon != std::string::npos) {
      std::string what = message.substr(colon + 15);
      message = absl::StartsWith(what, "-")
                    ? absl::StrCat("unknown flag ", what, " for ", where)
                    : absl::StrCat("unexpected argument ", what, " for ", where);
    }
    std::fprintf(stderr, "kiln: %s (see %s --help)\n", message.c_str(), where.c_str());
    return 2;
  }
  if (!g.run) {
    std::fprintf(stderr, "kiln: no command given (see kiln --help)\n");
    return 2;
  }
  // Commands that touch the store or run steps work rootless from inside a user namespace.
  const std::string verb = app.get_subcommands().front()->get_name();
  if (verb != "version" && verb != "login" && verb != "logout" && verb != "tags" &&
      verb != "dockerfile" && verb != "completion") {
    // Chosen by who started kiln: inside the namespace every user is root.
    if (g.root.empty()) g.root = kiln::layers::Store::DefaultRoot();
    // The store is reached from other working directories (a step's sandbox) too.
    if (g.root[0] != '/') {
      char cwd[4096];
      if (::getcwd(cwd, sizeof cwd) == nullptr) {
        std::fprintf(stderr, "kiln: the working directory: %s\n", std::strerror(errno));
        return 1;
      }
      g.root = std::string(cwd) + "/" + g.root;
    }
    absl::Status entered = kiln::EnterUserNamespace();
    if (!entered.ok()) {
      std::fprintf(stderr, "kiln: %s\n", std::string(entered.message()).c_str());
      return 1;
    }
  }
  // Ctrl-C or SIGTERM: what the verb started and made in the store goes with it.
  kiln::interrupt::Install();
  absl::Status status = g.run();
  kiln::interrupt::WaitIfInterrupted();
  if (!status.ok()) {
    if (!g.error_reported)
      std::fprintf(stderr, "kiln: %s\n", std::string(status.message()).c_str());
    return g.exit_code != 0 ? g.exit_code : 1;
  }
  return g.exit_code;
}
