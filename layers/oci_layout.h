// An OCI image layout directory (image-spec "image-layout"): `oci-layout`, `index.json`, and
// `blobs/<alg>/<hex>`. Names are `org.opencontainers.image.ref.name` annotations on index
// entries. index.json changes are read-modify-write under an exclusive flock on the layout
// directory and replace the file atomically, so concurrent processes never lose an update.
// Thread-compatible: share one object between threads only for reads.
#ifndef KILN_LAYERS_OCI_LAYOUT_H_
#define KILN_LAYERS_OCI_LAYOUT_H_

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "base/file_util.h"
#include "layers/blob_store.h"
#include "oci/descriptor.h"
#include "oci/manifest.h"

namespace kiln::layers {

class OciLayout {
 public:
  // Opens the layout at `dir`. If `create`, makes it (and `oci-layout`, an empty index.json)
  // when missing, and blobs can be added: temporary files go to `ingest_dir` or, when that is
  // empty, to a private directory inside the layout removed again when this object dies.
  // Without `create` the layout is read-only, and a directory without `oci-layout` is NotFound.
  static absl::StatusOr<std::unique_ptr<OciLayout>> Open(const std::string& dir, bool create,
                                                         const std::string& ingest_dir = "");
  ~OciLayout();

  const std::string& dir() const { return dir_; }
  const BlobStore& blobs() const { return *blobs_; }

  absl::StatusOr<oci::Index> ReadIndex() const;
  // Runs `fn` on index.json under the layout's exclusive lock and writes the result.
  absl::Status UpdateIndex(const std::function<absl::Status(oci::Index&)>& fn);

  // The entry named `name`; NotFound if none.
  absl::StatusOr<oci::Descriptor> Resolve(absl::string_view name) const;
  // Points `name` at `desc`, replacing an entry of that name. An empty name adds an unnamed
  // entry (unless one with that digest exists).
  absl::Status Tag(const std::string& name, oci::Descriptor desc);
  // Removes the entry named `name`; NotFound if none.
  absl::Status Untag(absl::string_view name);

 private:
  OciLayout(std::string dir, std::unique_ptr<BlobStore> blobs, std::optional<TempDir> own_ingest)
      : dir_(std::move(dir)), blobs_(std::move(blobs)), own_ingest_(std::move(own_ingest)) {}
  std::string dir_;
  std::unique_ptr<BlobStore> blobs_;
  std::optional<TempDir> own_ingest_;  // `.ingest-*` of this writer; a dead writer's is swept
};

// The name an index entry carries, or "" if none.
std::string RefName(const oci::Descriptor& d);

// Every descriptor reachable from `root` (itself included): child manifests of indexes,
// configs and layers, read from `blobs`. A descriptor seen twice is visited once.
absl::StatusOr<std::vector<oci::Descriptor>> CollectReachable(const BlobStore& blobs,
                                                              const oci::Descriptor& root);

}  // namespace kiln::layers

#endif  // KILN_LAYERS_OCI_LAYOUT_H_
