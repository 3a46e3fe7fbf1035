// The build cache as steps see it: each step's key, and the records kept under those keys
// (layers/build_cache.h is their format).
//
// A step's key is sha256 of its parent's key, the expanded instruction, the source date,
// compression and sandbox mode, the ARG values it sees, its heredocs, the content of what it
// reads (COPY/ADD sources of the context, ADD URLs, --from states, RUN bind mounts). A COPY
// --link step's layer does not depend on the layers below it: its link key names only what
// it copies and where (the working directory), so the layer is reused on any base.
#ifndef KILN_BUILDER_STEP_CACHE_H_
#define KILN_BUILDER_STEP_CACHE_H_

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "builder/build_session.h"
#include "builder/plan.h"
#include "builder/remote_cache.h"
#include "builder/stage_run.h"
#include "layers/blob_store.h"
#include "layers/build_cache.h"

namespace kiln::builder {

// The step's key; with `link`, the key of a COPY --link layer on any base.
absl::StatusOr<std::string> StepKey(BuildSession& session, const StageRun& run,
                                    const ImageState& state, const PlannedInstruction& p,
                                    bool link = false);

// True for a COPY --link whose layer can be reused on another base: names in --chown are
// resolved in the base, so only numeric owners qualify.
bool LinkReusable(const PlannedInstruction& p);

// The key of a step's result by its content (its step key, config and layers): what a step
// run under the no-cache filter passes on, so what builds on it runs again only if it changed.
std::string ContentKey(const std::string& key, const ImageState& state);

// A step's records. A step record is the whole image state after the step; its layers must
// still be in the store, or it is a miss. A marker says a metadata step was done (it is redone
// from the state in hand, so it costs nothing of the config). A link record is the layer a
// COPY --link made, or none when it copied nothing. Thread-safe.
class StepRecords {
 public:
  // Records the store lacks are looked up in `remote` (imported caches) and, found there,
  // kept in the store too; their blobs are fetched when a step needs them.
  StepRecords(const std::string& store_root, const layers::BlobStore& blobs,
              const RemoteCache* remote = nullptr)
      : cache_(store_root), blobs_(blobs), remote_(remote) {}

  // The key a metadata step passed on, when it was done before.
  std::optional<std::string> LoadMarker(const std::string& key) const;
  absl::Status SaveMarker(const std::string& key, const std::string& passed_on) const;

  std::optional<ImageState> LoadStep(const std::string& key) const;
  absl::Status SaveStep(const std::string& key, const ImageState& state) const;

  // Adds the recorded layer of `link_key` to `state` with the history text `created_by`;
  // false when there is no record or its layer is gone.
  bool ReuseLinkedLayer(const std::string& link_key, const std::string& created,
                        const std::string& created_by, ImageState* state) const;
  // Records the layers `state` gained after `layers_before` (none or one).
  absl::Status SaveLinkedLayer(const std::string& link_key, const ImageState& state,
                               size_t layers_before) const;

 private:
  // The record `name`, from the store or an imported cache; nullopt if neither has it.
  std::optional<layers::CacheRecord> Read(const std::string& name) const;
  // True when the blob is in the store or an imported cache.
  bool Available(const oci::Descriptor& d) const;

  layers::BuildCache cache_;
  const layers::BlobStore& blobs_;
  const RemoteCache* remote_;
};

}  // namespace kiln::builder

#endif  // KILN_BUILDER_STEP_CACHE_H_
