// Moving an image onto another base without rebuilding it, as `crane rebase` does: the old
// base's layers (which must be the image's first layers) are replaced by the new base's, the
// image's own layers are kept as they are, and the config's DiffIDs and history follow. Of the
// rest of the config, what the image inherited from the old base unchanged (an ENV of the
// base's, its entrypoint, labels, ...) takes the new base's value, as a rebuild would give;
// what the image set itself stays. Stateless.
#ifndef KILN_LAYERS_REBASE_H_
#define KILN_LAYERS_REBASE_H_

#include <vector>

#include "absl/status/statusor.h"
#include "layers/image_transfer.h"
#include "oci/descriptor.h"
#include "oci/image_config.h"

namespace kiln::layers {

inline constexpr char kBaseNameAnnotation[] = "org.opencontainers.image.base.name";
inline constexpr char kBaseDigestAnnotation[] = "org.opencontainers.image.base.digest";

struct Rebased {
  oci::ImageConfig config;
  std::vector<oci::Descriptor> layers;  // the new base's, then the image's own
  size_t own_layers = 0;                // how many of them are the image's own
};

// FailedPrecondition unless `old_base`'s layers (by DiffID) are the first of `image`'s, and
// unless the new base is for the image's platform.
absl::StatusOr<Rebased> Rebase(const LoadedImage& image, const LoadedImage& old_base,
                               const LoadedImage& new_base);

}  // namespace kiln::layers

#endif  // KILN_LAYERS_REBASE_H_
