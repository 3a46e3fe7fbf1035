// Turns a directory into a stored layer in one streaming pass: tar → DiffID hash → compress →
// compressed digest + blob ingest. Tar writing and hashing run on the calling thread,
// compression and storage on a second one; memory use does not depend on the layer's size.
// Same tree + same options = same bytes, same digests.
#ifndef KILN_LAYERS_LAYER_WRITER_H_
#define KILN_LAYERS_LAYER_WRITER_H_

#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "layers/blob_store.h"
#include "layers/compression.h"
#include "layers/tar_writer.h"
#include "oci/descriptor.h"

namespace kiln::layers {

struct LayerOptions {
  Compression compression = Compression::kGzip;
  int level = -1;  // -1: DefaultLevel(compression)
  TarOptions tar;
  // Called as the tar grows, with the bytes written so far (from the calling thread).
  std::function<void(uint64_t tar_bytes)> on_progress;
};

struct Layer {
  oci::Descriptor descriptor;  // media type, compressed digest, compressed size
  oci::Digest diff_id;         // sha256 of the uncompressed tar
  uint64_t uncompressed_size = 0;
};

absl::StatusOr<Layer> CreateLayer(const std::string& dir, const LayerOptions& options,
                                  const BlobStore& store);

}  // namespace kiln::layers

#endif  // KILN_LAYERS_LAYER_WRITER_H_
