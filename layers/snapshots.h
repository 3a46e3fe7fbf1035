// Unpacked layers: `<store>/snapshots/<diffid hex>/`, each layer extracted once (with overlay
// whiteouts, so the directory can be an overlayfs lower dir) and shared read-only by every
// build. The one owner of that directory: snapshots are made (Get), adopted from a step that
// already has the layer's tree (Adopt) and removed (Prune) only here. A snapshot appears
// atomically: extracted into a temporary directory, its DiffID checked against the
// decompressed stream, then renamed into place; a concurrent writer of the same snapshot loses
// the rename race harmlessly.
// Thread-compatible; safe across processes.
#ifndef KILN_LAYERS_SNAPSHOTS_H_
#define KILN_LAYERS_SNAPSHOTS_H_

#include <cstdint>
#include <string>

#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "layers/blob_store.h"
#include "oci/descriptor.h"

namespace kiln::layers {

class Snapshots {
 public:
  // `root` is the store root; snapshots live in `<root>/snapshots`.
  explicit Snapshots(std::string root) : dir_(std::move(root) + "/snapshots") {}

  // The snapshot directory of `layer`, unpacking it from `blobs` first if needed. DataLoss if
  // the layer's bytes or its DiffID do not match.
  absl::StatusOr<std::string> Get(const BlobStore& blobs, const oci::Descriptor& layer,
                                  const oci::Digest& diff_id) const;

  std::string PathOf(const oci::Digest& diff_id) const { return dir_ + "/" + diff_id.hex(); }

  // Keeps `tree` (a directory in overlay format on the store's file system, whose layer has
  // DiffID `diff_id`) as that layer's snapshot, by rename; `tree` is gone afterwards unless
  // the snapshot existed already.
  absl::Status Adopt(const std::string& tree, const oci::Digest& diff_id) const;

  // Removes every snapshot whose DiffID hex `wanted` lacks, and temporary directories left
  // by writers; returns how many snapshots went.
  absl::StatusOr<uint64_t> Prune(const absl::flat_hash_set<std::string>& wanted) const;

 private:
  std::string dir_;
};

}  // namespace kiln::layers

#endif  // KILN_LAYERS_SNAPSHOTS_H_
