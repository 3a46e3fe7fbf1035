// Stores an image made here: its config and an OCI manifest over its layers go into the blob
// store, and the manifest's descriptor comes back (to be tagged). Stateless.
#ifndef KILN_LAYERS_IMAGE_COMMIT_H_
#define KILN_LAYERS_IMAGE_COMMIT_H_

#include <vector>

#include "absl/status/statusor.h"
#include "layers/blob_store.h"
#include "oci/descriptor.h"
#include "oci/image_config.h"

namespace kiln::layers {

// REQUIRES: the layer blobs are in `blobs`, one per config.diff_ids entry, bottom first.
// `config_out`, when given, gets the config's descriptor.
absl::StatusOr<oci::Descriptor> CommitImage(const BlobStore& blobs, const oci::ImageConfig& config,
                                            const std::vector<oci::Descriptor>& layers,
                                            oci::Descriptor* config_out = nullptr);

}  // namespace kiln::layers

#endif  // KILN_LAYERS_IMAGE_COMMIT_H_
