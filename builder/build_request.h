// What a build is asked to do, and what it reports back.
#ifndef KILN_BUILDER_BUILD_REQUEST_H_
#define KILN_BUILDER_BUILD_REQUEST_H_

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "builder/files_output.h"
#include "builder/named_context.h"
#include "builder/remote_cache.h"
#include "builder/secrets.h"
#include "builder/ssh_agent.h"
#include "builder/step_sandbox.h"
#include "layers/compression.h"
#include "oci/descriptor.h"
#include "oci/digest.h"
#include "oci/platform.h"
#include "transfer/transports.h"
#include "trust/policy.h"

namespace kiln::builder {

struct BuildRequest {
  std::string context_dir;
  std::string dockerfile;  // path; default <context>/Dockerfile
  // The Dockerfile itself (`-f -`, read from stdin), named "Dockerfile" in messages; the
  // context's .dockerignore applies.
  std::optional<std::string> dockerfile_text;
  std::vector<std::string> tags;
  std::map<std::string, std::string> build_args;
  std::map<std::string, std::string> labels;
  std::string target;
  // --platform: the platforms to build for, each an image of the index the build makes (one:
  // a plain image). Empty: the host's.
  std::vector<oci::Platform> platforms;
  bool no_cache = false;
  // Stages (by name, or index as a number) whose steps run even when cached, as BuildKit's
  // no-cache filter: what uses them is reused only if they made the same thing again.
  std::vector<std::string> no_cache_filter;
  // RUN steps' network, user namespace, security options and limits.
  SandboxOptions sandbox;
  layers::Compression compression = layers::Compression::kGzip;
  int64_t source_date_epoch = 0;
  // RUN steps' known run-to-run differences made the same (builder/normalize.h).
  bool normalize = true;
  std::vector<std::string> outputs;  // oci:DIR:TAG, oci-archive:F, docker-archive:F, docker://R
  std::vector<FilesOutput> files_outputs;  // the image's files: a directory or a tar
  // Push every tag to the registry its name points at.
  bool push = false;
  // Pull base images from their registries even when the store has them.
  bool pull = false;
  transfer::TransportOptions transport;  // registry settings for pulls and pushes
  // --secret: by id, for RUN --mount=type=secret (never in a layer, record, key or history).
  Secrets secrets;
  // --ssh: agents by id, for RUN --mount=type=ssh.
  SshSources ssh;
  // Build caches to read records from after the store's own, and to write this build's to.
  std::vector<CacheSpec> cache_from;
  std::vector<CacheSpec> cache_to;
  // --build-context: directories and images standing in for stages and images by name.
  NamedContexts named_contexts;
  // The signature policy base images (and COPY --from images) pulled or imported must meet;
  // null accepts every image.
  std::shared_ptr<const trust::Policy> policy;
  // Attestations attached to the image (it becomes an index beside an attestation manifest):
  // an SPDX SBOM of the final image, and SLSA v1 provenance of the build.
  bool sbom = false;
  bool provenance = false;
};

struct BuildResult {
  oci::Digest manifest_digest;
  oci::Descriptor manifest;  // the image's root in the store
  oci::Descriptor config;
  // Steps that change the file system (RUN, COPY, ADD, WORKDIR) run or taken from the cache;
  // config-only instructions (ENV, LABEL, ARG, ...) are in neither count.
  int steps_run = 0;
  int steps_cached = 0;
  std::vector<oci::Platform> platforms;  // of the images made, in order
};

}  // namespace kiln::builder

#endif  // KILN_BUILDER_BUILD_REQUEST_H_
