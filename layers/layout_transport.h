// ImageSource / ImageDestination over a blob store laid out as an OCI layout: used for the
// local store, `oci:` directories and (unpacked) `oci-archive:` files.
#ifndef KILN_LAYERS_LAYOUT_TRANSPORT_H_
#define KILN_LAYERS_LAYOUT_TRANSPORT_H_

#include <functional>
#include <memory>

#include "layers/blob_store.h"
#include "layers/image_transfer.h"

namespace kiln::layers {

// Reads the image rooted at `root` from `blobs` (not owned; must outlive the source).
// `verified`: the blobs are kiln's own (checked when stored), so their files may be linked.
std::unique_ptr<ImageSource> NewBlobStoreSource(const BlobStore* blobs, oci::Descriptor root,
                                                bool verified = false);

// Writes blobs into `blobs` (not owned) and calls `commit` with the top manifest's descriptor.
std::unique_ptr<ImageDestination> NewBlobStoreDestination(
    const BlobStore* blobs, std::function<absl::Status(const oci::Descriptor&)> commit);

}  // namespace kiln::layers

#endif  // KILN_LAYERS_LAYOUT_TRANSPORT_H_
