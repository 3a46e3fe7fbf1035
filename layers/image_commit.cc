#include "layers/image_commit.h"

#include "base/status_macros.h"
#include "oci/manifest.h"
#include "oci/media_types.h"

namespace kiln::layers {

absl::StatusOr<oci::Descriptor> CommitImage(const BlobStore& blobs, const oci::ImageConfig& config,
                                            const std::vector<oci::Descriptor>& layers,
                                            oci::Descriptor* config_out) {
  std::string config_bytes = config.Serialize();
  oci::Manifest manifest;
  manifest.config.media_type = oci::kOciConfig;
  ASSIGN_OR_RETURN(manifest.config.digest, blobs.Put(config_bytes));
  manifest.config.size = static_cast<int64_t>(config_bytes.size());
  manifest.layers = layers;
  if (config_out != nullptr) *config_out = manifest.config;
  std::string bytes = manifest.Serialize();
  oci::Descriptor top;
  top.media_type = oci::kOciManifest;
  ASSIGN_OR_RETURN(top.digest, blobs.Put(bytes));
  top.size = static_cast<int64_t>(bytes.size());
  return top;
}

}  // namespace kiln::layers
