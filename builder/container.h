// A throwaway container: one command run over an image's layers in the sandbox RUN steps get
// (builder/step_sandbox.h: user namespace, seccomp, capabilities, masked /proc, cgroup, private
// network), with the image's ENTRYPOINT, CMD, ENV, USER and WORKDIR as `docker run` applies
// them. What the command writes goes to an upper directory of its own that is removed with
// it: nothing is committed, nothing is kept. Volumes are host paths bound in (idmapped, so
// the container's root writes as the host's root, as with Docker) or empty tmpfs mounts.
#ifndef KILN_BUILDER_CONTAINER_H_
#define KILN_BUILDER_CONTAINER_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "builder/step_sandbox.h"
#include "layers/image_transfer.h"
#include "layers/store.h"
#include "oci/platform.h"

namespace kiln::builder {

// -v HOST:CONTAINER[:ro|rw], or -v CONTAINER for an empty, writable scratch directory.
struct Volume {
  std::string host;    // absolute; empty: a tmpfs
  std::string target;  // absolute, in the container
  bool read_only = false;
};
absl::StatusOr<Volume> ParseVolume(absl::string_view text);

struct ContainerOptions {
  std::vector<std::string> command;                    // replaces the image's CMD when not empty
  std::optional<std::vector<std::string>> entrypoint;  // --entrypoint ({}: none)
  std::vector<std::string> env;                        // KEY=VALUE, over the image's
  std::vector<Volume> volumes;
  std::string user;     // empty: the image's USER
  std::string workdir;  // empty: the image's WORKDIR
  SandboxOptions sandbox;
  oci::Platform platform = oci::Platform::Host();  // the image's, for emulation
  bool interactive = false;                        // the command reads kiln's stdin
};

// The argv docker runs for `config` with `options`: entrypoint, then the command or CMD.
// InvalidArgument when there is nothing to run.
absl::StatusOr<std::vector<std::string>> ContainerArgv(const oci::ContainerConfig& config,
                                                       const ContainerOptions& options);

// The environment the command gets, in Docker's order: PATH (oci::kDefaultPath unless the
// image sets it), HOSTNAME, the image's ENV, HOME (the user's, unless set), then `extra` in
// order, each replacing a variable of its name.
std::vector<std::string> ContainerEnv(const std::vector<std::string>& image_env,
                                      const std::vector<std::string>& extra,
                                      const std::string& hostname, const std::string& home);

struct ContainerResult {
  int exit_code = 0;  // the command's, 128 + N when signal N ended it
  // "RUN was killed: out of memory (limit ...)" when the memory limit ended it.
  std::optional<std::string> out_of_memory;
};

// Runs the container to completion. An error means it could not start (a bad option, a
// missing user, the sandbox); a command that cannot be executed is a FailedPrecondition
// starting "sandbox: exec ".
absl::StatusOr<ContainerResult> RunContainer(const layers::Store& store,
                                             const layers::LoadedImage& image,
                                             const ContainerOptions& options);

}  // namespace kiln::builder

#endif  // KILN_BUILDER_CONTAINER_H_
