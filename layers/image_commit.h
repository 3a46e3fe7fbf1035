// Stores an image made here: its config and an OCI manifest over its layers go into the blob
// store, and the manifest's descriptor comes back (to be tagged); likewise an index over
// manifests, and any bytes as a blob of a media type. Stateless.
#ifndef KILN_LAYERS_IMAGE_COMMIT_H_
#define KILN_LAYERS_IMAGE_COMMIT_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "layers/blob_store.h"
#include "oci/descriptor.h"
#include "oci/image_config.h"

namespace kiln::layers {

// REQUIRES: the layer blobs are in `blobs`, one per config.diff_ids entry, bottom first.
// `config_out`, when given, gets the config's descriptor; the manifest carries `annotations`.
absl::StatusOr<oci::Descriptor> CommitImage(
    const BlobStore& blobs, const oci::ImageConfig& config,
    const std::vector<oci::Descriptor>& layers, oci::Descriptor* config_out = nullptr,
    const std::map<std::string, std::string>& annotations = {});

// Puts `bytes` into `blobs`; returns their descriptor, of `media_type`.
absl::StatusOr<oci::Descriptor> PutBytes(const BlobStore& blobs, const std::string& media_type,
                                         const std::string& bytes);

// An OCI image index of `manifests` (descriptors as given: platforms, annotations), put into
// `blobs`. REQUIRES: the manifests are in `blobs`.
absl::StatusOr<oci::Descriptor> CommitIndex(const BlobStore& blobs,
                                            const std::vector<oci::Descriptor>& manifests);

}  // namespace kiln::layers

#endif  // KILN_LAYERS_IMAGE_COMMIT_H_
