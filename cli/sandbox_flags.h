// The sandbox flags `kiln build` (for its RUN steps) and `kiln run` (for its container) share:
// --network, --userns, --security-opt, --cap-add/--cap-drop, --ulimit, --add-host, --hostname,
// --shm-size, -m/--memory, --memory-swap, --cpu-shares, --cpus, --pids-limit; Docker's
// spellings and meanings.
#ifndef KILN_CLI_SANDBOX_FLAGS_H_
#define KILN_CLI_SANDBOX_FLAGS_H_

#include <optional>
#include <string>

#include "CLI/CLI.hpp"
#include "builder/step_sandbox.h"

namespace kiln::cli {

struct SandboxFlags {
  builder::SandboxOptions sandbox;  // the fields CLI11 sets directly
  std::string network = "default", userns = "private";
  std::optional<std::string> memory, memory_swap, shm_size;

  builder::SandboxOptions Options() const;
};

// `who` names what the flags apply to in their help: "RUN steps", "the container".
void AddSandboxFlags(CLI::App* cmd, SandboxFlags* flags, const std::string& who);

}  // namespace kiln::cli

#endif  // KILN_CLI_SANDBOX_FLAGS_H_
