// What a RUN step executes: its argv (exec form, the shell with the command line, a heredoc
// script through the shell or through its own #! interpreter) and the script to feed on stdin.
#ifndef KILN_BUILDER_RUN_COMMAND_H_
#define KILN_BUILDER_RUN_COMMAND_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "builder/plan.h"
#include "oci/image_config.h"

namespace kiln::builder {

struct RunCommand {
  std::vector<std::string> argv;
  std::string stdin_script;  // a #! heredoc script, read by its interpreter as /dev/stdin
  bool has_stdin_script = false;
};

// `command` as the image's SHELL (default /bin/sh -c) runs it.
std::vector<std::string> ShellCommand(const oci::ContainerConfig& c, const std::string& command);

// RUN <<EOF: the heredoc is the script; one starting with #! runs with its interpreter,
// else with the shell. cmd <<EOF ...: the shell gets the command line with the heredocs after
// it and feeds them to the command itself (expansion, <<- and fd numbers as in any script).
absl::StatusOr<RunCommand> CommandOf(const PlannedInstruction& p, const oci::ContainerConfig& c);

// A RUN's environment ("K=V", sorted by name): the proxy build arguments (which reach every
// RUN without a declaration), the stage's ARG values, then the image's ENV, which wins; PATH
// defaults to oci::kDefaultPath, HOME to the user's home and SOURCE_DATE_EPOCH to the build's
// source date.
std::vector<std::string> RunEnvironment(const std::map<std::string, std::string>& build_args,
                                        const std::map<std::string, std::string>& stage_args,
                                        const std::vector<std::string>& image_env,
                                        const std::string& home, int64_t source_date_epoch);

}  // namespace kiln::builder

#endif  // KILN_BUILDER_RUN_COMMAND_H_
