// Executes a build plan: each stage starts from its base (scratch, another stage, an image in
// the store or an OCI layout/archive), then each instruction either changes the image config
// (ENV, LABEL, CMD, ...) or produces a layer: RUN in a sandbox over the unpacked parent layers
// (the overlay's upper directory is the diff), COPY/ADD written straight into a fresh diff
// directory. Every step has a cache key (parent key, the expanded instruction, the ARG values
// it sees, the digest of COPY sources); a hit restores the step's result without running it.
// The result is stored in the store's blobs, tagged, and optionally exported.
// Independent stages run concurrently, each on a thread of its own. Build() may be called
// from any thread; one call runs one build.
#ifndef KILN_BUILDER_EXECUTOR_H_
#define KILN_BUILDER_EXECUTOR_H_

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "builder/build_event.h"
#include "builder/step_sandbox.h"
#include "layers/compression.h"
#include "layers/store.h"
#include "oci/digest.h"
#include "transfer/transports.h"

namespace kiln::builder {

struct BuildRequest {
  std::string context_dir;
  std::string dockerfile;  // path; default <context>/Dockerfile
  std::vector<std::string> tags;
  std::map<std::string, std::string> build_args;
  std::map<std::string, std::string> labels;
  std::string target;
  bool no_cache = false;
  // Stages (by name, or index as a number) whose steps run even when cached, as BuildKit's
  // no-cache filter: what uses them is reused only if they made the same thing again.
  std::vector<std::string> no_cache_filter;
  // RUN steps' network, user namespace, security options and limits.
  SandboxOptions sandbox;
  layers::Compression compression = layers::Compression::kGzip;
  int64_t source_date_epoch = 0;
  std::vector<std::string> outputs;  // oci:DIR:TAG, oci-archive:F, docker-archive:F, docker://R
  // Push every tag to the registry its name points at.
  bool push = false;
  // Pull base images from their registries even when the store has them.
  bool pull = false;
  transfer::TransportOptions transport;  // registry settings for pulls and pushes
};

struct BuildResult {
  oci::Digest manifest_digest;
  int steps_run = 0;
  int steps_cached = 0;
};

absl::StatusOr<BuildResult> Build(layers::Store& store, const BuildRequest& request,
                                  const ProgressFn& progress);

}  // namespace kiln::builder

#endif  // KILN_BUILDER_EXECUTOR_H_
