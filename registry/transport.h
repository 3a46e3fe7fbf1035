// The `docker://` transport: an image in a registry repository as an ImageSource or an
// ImageDestination. Blobs move several at once; a push mounts blobs the source says another
// repository of the same registry holds, and uploads only what the registry lacks.
#ifndef KILN_REGISTRY_TRANSPORT_H_
#define KILN_REGISTRY_TRANSPORT_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "layers/image_transfer.h"
#include "oci/reference.h"
#include "registry/client.h"

namespace kiln::registry {

absl::StatusOr<std::unique_ptr<layers::ImageSource>> OpenRegistrySource(
    const oci::Reference& ref, const RegistryOptions& options);

// Pushes to `ref`'s tag (or, for a digest reference, by digest only).
absl::StatusOr<std::unique_ptr<layers::ImageDestination>> OpenRegistryDestination(
    const oci::Reference& ref, const RegistryOptions& options);

}  // namespace kiln::registry

#endif  // KILN_REGISTRY_TRANSPORT_H_
