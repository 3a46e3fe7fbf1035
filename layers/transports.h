// Opens the ImageSource or ImageDestination an ImageLocation names. What a source or a
// destination needs (unpacked archives, store locks) lives and dies with it.
#ifndef KILN_LAYERS_TRANSPORTS_H_
#define KILN_LAYERS_TRANSPORTS_H_

#include <memory>

#include "absl/status/statusor.h"
#include "layers/image_location.h"
#include "layers/image_transfer.h"
#include "layers/store.h"
#include "registry/client.h"

namespace kiln::layers {

struct TransportOptions {
  registry::RegistryOptions registry;  // for docker:// locations
};

// `store` is used for Transport::kStore locations (and must outlive the result). The store
// remembers which registry repositories its blobs came from, so pushes can mount them.
absl::StatusOr<std::unique_ptr<ImageSource>> OpenImageSource(const ImageLocation& loc, Store* store,
                                                             const TransportOptions& options = {});
absl::StatusOr<std::unique_ptr<ImageDestination>> OpenImageDestination(
    const ImageLocation& loc, Store* store, const TransportOptions& options = {});

// The entry `name` of a layout, or its only entry when `name` is empty.
absl::StatusOr<oci::Descriptor> ResolveInLayout(const OciLayout& layout, const std::string& name);

}  // namespace kiln::layers

#endif  // KILN_LAYERS_TRANSPORTS_H_
