// Build planning: turns a checked Dockerfile into the stages a target needs, in build order,
// with arguments expanded exactly where the Dockerfile reference expands them.
//
// ARG scoping, as BuildKit has it: ARGs before the first FROM are global ("meta") ARGs, usable
// only in FROM lines (and --platform); inside a stage an ARG must be declared to be used, and
// re-declaring a global ARG without a value takes the global value. --build-arg overrides
// defaults. ENV overrides ARG of the same name. The automatic platform ARGs (TARGETPLATFORM,
// TARGETOS, TARGETARCH, TARGETVARIANT, BUILDPLATFORM, ...) are global; the proxy ARGs
// (HTTP_PROXY, ...) may be given without a declaration. Values of one ENV or LABEL
// instruction are expanded with the environment from before it.
//
// Stages depend on their FROM stage, on COPY --from stages and on RUN --mount from= stages; a
// cycle is an error. Stages the target does not need are pruned.
// Stateless and thread-safe.
#ifndef KILN_BUILDER_PLAN_H_
#define KILN_BUILDER_PLAN_H_

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "builder/dockerfile/instructions.h"
#include "builder/dockerfile/parser.h"
#include "builder/dockerfile/run_mount.h"
#include "builder/dockerfile/shell_lex.h"
#include "builder/named_context.h"
#include "nlohmann/json.hpp"
#include "oci/platform.h"

namespace kiln::builder {

// HTTP_PROXY, http_proxy, HTTPS_PROXY, ..., NO_PROXY, ALL_PROXY: build arguments RUN steps
// see without a declaration, and that are not part of any cache key.
bool IsProxyArg(const std::string& name);

struct PlanOptions {
  std::string target;                             // stage name; empty: the last stage
  std::map<std::string, std::string> build_args;  // --build-arg
  oci::Platform target_platform = oci::Platform::Host();
  oci::Platform build_platform = oci::Platform::Host();
  // The environment ("K=V") of a base image for a platform, so expansion in a stage sees the
  // image's ENV. Unset: base images count as having no ENV.
  std::function<absl::StatusOr<std::vector<std::string>>(const std::string& image,
                                                         const oci::Platform& platform)>
      image_env;
  // The ONBUILD triggers of a base image: they become the first instructions of a stage built
  // on it (a stage built on another stage runs the ONBUILD lines of that stage instead).
  // Unset: none.
  std::function<absl::StatusOr<std::vector<std::string>>(const std::string& image,
                                                         const oci::Platform& platform)>
      image_triggers;
  // --build-context: a stage of a context's name is replaced by it (an image context becomes
  // the stage's base image, named as the stage; a directory is copied onto scratch); a base
  // image of a context's name is replaced likewise. COPY --from and RUN --mount from= that
  // name no stage are resolved by the build.
  NamedContexts named_contexts;
};

struct PlannedInstruction {
  const dockerfile::Node* node = nullptr;
  int line = 0;
  std::string instruction;                                // "RUN"
  std::vector<std::string> args;                          // expanded where the reference expands
  std::map<std::string, std::vector<std::string>> flags;  // likewise
  bool json = false;
  // The heredocs' contents, in order, as the step uses them: for COPY and ADD with <<-'s
  // leading tabs removed and variables expanded (unless the delimiter was quoted), as BuildKit
  // does; for RUN as written (the shell, or the script's interpreter, reads them).
  std::vector<std::string> heredocs;
  // RUN: the --mount values, parsed and checked once here (in flag order).
  std::vector<dockerfile::RunMount> mounts;
  // The stage (its index) COPY --from names, or -1: the build context, or an image.
  int from_stage = -1;
  // The same for each of `mounts`' from= (-1: the build context, an image, or no from).
  std::vector<int> mount_from_stages;
  // COPY: --from names a --build-context directory, not a stage (the first step of a stage
  // that directory replaces).
  bool from_named_context = false;

  // The value of flag `name` (the last, when repeated), or nullptr when not given.
  const std::string* Flag(const std::string& name) const;
  // Every value of a repeatable flag (--mount, --exclude); empty when not given.
  const std::vector<std::string>& FlagValues(const std::string& name) const;
  // A boolean flag (--link, --parents) given bare or as =true.
  bool BoolFlag(const std::string& name) const;
  // The instruction as expanded: "COPY --chown=1:1 a b" (flags sorted by name). Part of the
  // step's cache key, and what progress and `dockerfile plan` show.
  std::string ToText() const;
};

struct Stage {
  int index = 0;         // position among the Dockerfile's stages
  std::string name;      // lower case; empty when unnamed
  std::string base;      // expanded: an image reference, "scratch", or a stage's name
  int base_stage = -1;   // the stage it builds on, or -1 for an image
  std::string platform;  // expanded --platform, empty when not given
  // What the stage is built for: its --platform, else its base stage's, else the target's.
  oci::Platform runs_on;
  int line = 0;  // of its FROM
  std::vector<PlannedInstruction> instructions;
  std::vector<int> depends_on;      // stage indexes, sorted
  std::vector<std::string> images;  // images used by COPY --from / RUN --mount from=
  dockerfile::Env env;              // ENV at the end of the stage (from stages and ENV lines)
};

struct Plan {
  std::vector<Stage> stages;  // the stages the target needs, dependencies first
  int target = 0;             // index of the target stage
  dockerfile::Env meta_args;  // global ARGs as resolved
  std::vector<std::string> warnings;
  // The parsed ONBUILD triggers that instructions point into.
  std::vector<std::shared_ptr<const dockerfile::Dockerfile>> triggers;

  nlohmann::json ToJson() const;
  std::string ToText() const;
};

absl::StatusOr<Plan> MakePlan(const dockerfile::Dockerfile& df, const PlanOptions& options);

}  // namespace kiln::builder

#endif  // KILN_BUILDER_PLAN_H_
