// kiln's local image store. Its root is an OCI image layout (so `skopeo copy oci:ROOT:app:1`
// and `umoci` read it directly); kiln's own state sits beside the layout in folders the spec
// ignores: `ingest/` (blobs being written), `locks/`, `origins/` (where pulled blobs came
// from), `file-digests` (build context digests by stat data), and for builds `run/` (work
// directories), `snapshots/` (unpacked layers, layers/snapshots.h), `cache/` (build cache
// records, layers/build_cache.h) and `cache-mounts/` (RUN --mount=type=cache directories).
// Each of these paths is named only by its owner: this class, Snapshots or BuildCache.
// Names are normalized Docker references in their short form ("app" → "app:latest",
// "docker.io/library/busybox" → "busybox:latest", "localhost:5000/x:1" as is).
// Concurrency: any number of writers hold the store's shared lock while they add blobs that no
// name references yet; gc takes it exclusively, so it never removes what a writer holds.
#ifndef KILN_LAYERS_STORE_H_
#define KILN_LAYERS_STORE_H_

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "base/unique_fd.h"
#include "layers/build_cache.h"
#include "layers/oci_layout.h"

namespace kiln::layers {

class Store {
 public:
  // --root, else $KILN_ROOT, else /var/lib/kiln for root, else ~/.local/share/kiln.
  static std::string DefaultRoot();
  static absl::StatusOr<std::unique_ptr<Store>> Open(const std::string& root);

  OciLayout& layout() { return *layout_; }
  const BlobStore& blobs() const { return layout_->blobs(); }
  const std::string& root() const { return layout_->dir(); }

  // Builds' work directories (`run/`, made if missing); each build's is a TempDir below it.
  absl::StatusOr<std::string> RunDir() const;
  // The directory of a RUN --mount=type=cache cache, by the hex of its key.
  std::string CacheMountDir(absl::string_view key_hex) const;
  // The file of build context digests by stat data (builder/context/file_digests.h).
  std::string FileDigestsPath() const;
  // The registry repositories (domain/repo) blob `d` was pulled from, newest last: hints for
  // cross-repository mounts when pushing.
  std::vector<std::string> Origins(const oci::Digest& d) const;
  // Adds to them (at most 16 are kept); best effort: a lost hint only costs an upload.
  void RecordOrigins(const oci::Digest& d, std::vector<std::string> add) const;

  // "app" → "app:latest". InvalidArgument for names Docker would reject, and for digest
  // references unless `allow_digest` ("app@sha256:..." names what a pull by digest made).
  static absl::StatusOr<std::string> CanonicalName(absl::string_view name,
                                                   bool allow_digest = false);

  // Finds an image by name, by full digest ("sha256:..."), or by a unique digest prefix of at
  // least 4 hex digits (as `kiln images` prints them).
  absl::StatusOr<oci::Descriptor> Resolve(absl::string_view image) const;
  // A name with a digest must name `desc`'s digest.
  absl::Status Tag(absl::string_view name, const oci::Descriptor& desc);
  absl::Status Untag(absl::string_view name);
  // (name, descriptor) for every named image, sorted by name.
  absl::StatusOr<std::vector<std::pair<std::string, oci::Descriptor>>> List() const;

  // Held while adding blobs; released on destruction.
  class Lock {
   public:
    explicit Lock(UniqueFd fd) : fd_(std::move(fd)) {}

   private:
    UniqueFd fd_;
  };
  absl::StatusOr<Lock> LockShared() const;

  struct GcStats {
    uint64_t removed_blobs = 0;
    uint64_t removed_bytes = 0;
    uint64_t kept_blobs = 0;
    uint64_t removed_cache_records = 0;
    uint64_t removed_snapshots = 0;
  };
  // Removes every blob that neither a named image nor a build cache record (cache/, JSON
  // objects whose "layers" list descriptors) reaches, the unpacked layers
  // (snapshots/<diffid hex>) none of those lists, unreadable cache records and those whose
  // layers are missing, stale ingest files and the work directories (run/) of builds that
  // died. `drop_build_cache` removes every cache record first, so only named images stay,
  // and the RUN --mount cache directories (cache-mounts/).
  absl::StatusOr<GcStats> Gc(bool drop_build_cache = false);

  // What the store holds (kiln system df). Reclaimable: what `kiln gc` frees (unused blobs,
  // snapshots no image needs once the build cache goes) or `kiln gc --build-cache` frees too
  // (the build cache's own layers and its RUN --mount caches).
  struct Usage {
    struct Row {
      uint64_t count = 0, bytes = 0, reclaimable = 0;
    };
    Row images;        // named images (distinct roots); bytes: the blobs they reach
    Row build_cache;   // cache records; bytes: the layers only they keep
    Row unused;        // blobs nothing reaches
    Row snapshots;     // unpacked layers (disk usage)
    Row cache_mounts;  // RUN --mount=type=cache directories (disk usage)
  };
  absl::StatusOr<Usage> DiskUsage() const;

  struct FsckReport {
    uint64_t blobs_checked = 0;
    // Layers images refer to that the store does not hold but knows origins of (left in a
    // registry build cache, fetched when read): not problems.
    uint64_t remote_blobs = 0;
    std::vector<std::string> problems;  // one line each; empty when the store is sound
  };
  // Re-hashes every blob and checks that every name reaches only present (or, for layers,
  // remote) well-formed blobs of the sizes their descriptors state, and that configs list one
  // DiffID per layer.
  absl::StatusOr<FsckReport> Fsck() const;

 private:
  explicit Store(std::unique_ptr<OciLayout> layout) : layout_(std::move(layout)) {}
  absl::StatusOr<Lock> TakeLock(int operation) const;
  // What the names and the build cache records each keep: blobs, and snapshots (DiffID hex).
  struct Marks {
    absl::flat_hash_set<oci::Digest> image_blobs, cache_blobs;
    absl::flat_hash_set<std::string> image_snapshots, cache_snapshots;
  };
  absl::StatusOr<Marks> Mark(const oci::Index& index,
                             const std::vector<BuildCache::Entry>& records) const;
  std::string OriginsPath(const oci::Digest& d) const;
  std::unique_ptr<OciLayout> layout_;
};

}  // namespace kiln::layers

#endif  // KILN_LAYERS_STORE_H_
