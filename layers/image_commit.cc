#include "layers/image_commit.h"

#include "base/status_macros.h"
#include "oci/manifest.h"
#include "oci/media_types.h"

namespace kiln::layers {

absl::StatusOr<oci::Descriptor> CommitImage(const BlobStore& blobs, const oci::ImageConfig& config,
                                            const std::vector<oci::Descriptor>& layers,
                                            oci::Descriptor* config_out,
                                            const std::map<std::string, std::string>& annotations) {
  oci::Manifest manifest;
  manifest.annotations = annotations;
  ASSIGN_OR_RETURN(manifest.config, PutBytes(blobs, oci::kOciConfig, config.Serialize()));
  manifest.layers = layers;
  if (config_out != nullptr) *config_out = manifest.config;
  return PutBytes(blobs, oci::kOciManifest, manifest.Serialize());
}

absl::StatusOr<oci::Descriptor> PutBytes(const BlobStore& blobs, const std::string& media_type,
                                         const std::string& bytes) {
  oci::Descriptor d;
  d.media_type = media_type;
  ASSIGN_OR_RETURN(d.digest, blobs.Put(bytes));
  d.size = static_cast<int64_t>(bytes.size());
  return d;
}

absl::StatusOr<oci::Descriptor> CommitIndex(const BlobStore& blobs,
                                            const std::vector<oci::Descriptor>& manifests) {
  oci::Index index;
  index.media_type = oci::kOciIndex;
  index.manifests = manifests;
  return PutBytes(blobs, oci::kOciIndex, index.Serialize());
}

}  // namespace kiln::layers
