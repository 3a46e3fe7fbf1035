// Opens the layers::ImageSource or layers::ImageDestination an ImageLocation names. What a source
// or a destination needs (unpacked archives, store locks) lives and dies with it.
#ifndef KILN_TRANSFER_TRANSPORTS_H_
#define KILN_TRANSFER_TRANSPORTS_H_

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "layers/image_transfer.h"
#include "layers/store.h"
#include "registry/client.h"
#include "registry/registries_conf.h"
#include "transfer/image_location.h"

namespace kiln::transfer {

struct TransportOptions {
  registry::RegistryOptions registry;  // for docker:// locations
  // Where docker:// sources are read from (mirrors first); null: the registry named.
  std::shared_ptr<const registry::RegistriesConf> registries;
  // Told when an image is read from a mirror, or a mirror failed and the next was tried.
  std::function<void(const std::string&)> notify;
};

// `store` is used for Transport::kStore locations (and must outlive the result). The store
// remembers which registry repositories its blobs came from, so pushes can mount them.
// A docker:// source is the first of `options.registries`' pull sources whose manifest can be
// read (a mirror that fails is skipped); a digest reference is verified at whichever serves it.
absl::StatusOr<std::unique_ptr<layers::ImageSource>> OpenImageSource(
    const ImageLocation& loc, layers::Store* store, const TransportOptions& options = {});
// The image `root` of the store as a source: blobs the store lacks are fetched from their
// origins (transfer/origin_blobs.h) as they are read; origins are offered for mounts.
std::unique_ptr<layers::ImageSource> NewStoreSource(layers::Store* store,
                                                    const oci::Descriptor& root,
                                                    const TransportOptions& options);
absl::StatusOr<std::unique_ptr<layers::ImageDestination>> OpenImageDestination(
    const ImageLocation& loc, layers::Store* store, const TransportOptions& options = {});

// The entry `name` (a ref name, or "sha256:HEX" for an entry by digest) of a layout, or its
// only entry when `name` is empty.
absl::StatusOr<oci::Descriptor> ResolveInLayout(const layers::OciLayout& layout,
                                                const std::string& name);

}  // namespace kiln::transfer

#endif  // KILN_TRANSFER_TRANSPORTS_H_
