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

#include "absl/status/statusor.h"
#include "builder/build_event.h"
#include "builder/build_request.h"
#include "layers/store.h"

namespace kiln::builder {

absl::StatusOr<BuildResult> Build(layers::Store& store, const BuildRequest& request,
                                  const ProgressFn& progress);

}  // namespace kiln::builder

#endif  // KILN_BUILDER_EXECUTOR_H_
