// Sources and sinks of images, one implementation per transport (layout, archives; registries
// later), and CopyImage which moves an image between any two. Blob and manifest bytes move
// unchanged, so digests are kept; every blob is verified against its descriptor on the way.
// A destination makes nothing visible under a name until Commit.
// Each object is used by one thread at a time, except that OpenBlob / HasBlob / PutBlob(From)
// may run on several threads at once when ConcurrentBlobs() says so.
#ifndef KILN_LAYERS_IMAGE_TRANSFER_H_
#define KILN_LAYERS_IMAGE_TRANSFER_H_

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "base/io.h"
#include "oci/descriptor.h"
#include "oci/image_config.h"
#include "oci/manifest.h"
#include "oci/platform.h"

namespace kiln::layers {

class ImageSource {
 public:
  virtual ~ImageSource() = default;
  // The image's top-level manifest or index.
  virtual absl::StatusOr<oci::ManifestData> GetManifest() = 0;
  // A manifest an index refers to.
  virtual absl::StatusOr<oci::ManifestData> GetChildManifest(const oci::Descriptor& d) = 0;
  // A reader of the blob that fails with DataLoss at EOF if size or digest do not match `d`.
  virtual absl::StatusOr<std::unique_ptr<Reader>> OpenBlob(const oci::Descriptor& d) = 0;
  // The blob's bytes without the check, for a destination that verifies size and digest itself
  // before anything becomes visible (saves hashing the bytes twice).
  virtual absl::StatusOr<std::unique_ptr<Reader>> OpenBlobUnverified(const oci::Descriptor& d) {
    return OpenBlob(d);
  }
  virtual bool ConcurrentBlobs() const { return false; }
  // Whether the source still holds the blob, asked cheaply (a HEAD request, a stat); nullopt
  // when the source cannot tell without reading it.
  virtual std::optional<bool> BlobExists(const oci::Descriptor& d) { return std::nullopt; }
  // A local file that holds the blob's bytes, already verified (the store's own blobs): a
  // destination on the same file system may hard-link it instead of copying. Blobs are
  // immutable, so sharing the file is safe.
  virtual std::optional<std::string> VerifiedBlobFile(const oci::Descriptor& d) {
    return std::nullopt;
  }
  // Registry repositories ("registry.example/team/app") known to hold the blob, so a push to
  // the same registry can mount it instead of uploading.
  virtual std::vector<std::string> BlobOrigins(const oci::Descriptor& d) { return {}; }
};

// A source that passes every call to another one (owned or not); subclasses override what
// they add.
class ForwardingSource : public ImageSource {
 public:
  explicit ForwardingSource(ImageSource* inner) : inner_(inner) {}
  explicit ForwardingSource(std::unique_ptr<ImageSource> owned)
      : inner_(owned.get()), owned_(std::move(owned)) {}
  absl::StatusOr<oci::ManifestData> GetManifest() override { return inner_->GetManifest(); }
  absl::StatusOr<oci::ManifestData> GetChildManifest(const oci::Descriptor& d) override {
    return inner_->GetChildManifest(d);
  }
  absl::StatusOr<std::unique_ptr<Reader>> OpenBlob(const oci::Descriptor& d) override {
    return inner_->OpenBlob(d);
  }
  absl::StatusOr<std::unique_ptr<Reader>> OpenBlobUnverified(const oci::Descriptor& d) override {
    return inner_->OpenBlobUnverified(d);
  }
  bool ConcurrentBlobs() const override { return inner_->ConcurrentBlobs(); }
  std::optional<bool> BlobExists(const oci::Descriptor& d) override {
    return inner_->BlobExists(d);
  }
  std::optional<std::string> VerifiedBlobFile(const oci::Descriptor& d) override {
    return inner_->VerifiedBlobFile(d);
  }
  std::vector<std::string> BlobOrigins(const oci::Descriptor& d) override {
    return inner_->BlobOrigins(d);
  }

 private:
  ImageSource* inner_;
  std::unique_ptr<ImageSource> owned_;
};

class ImageDestination {
 public:
  virtual ~ImageDestination() = default;
  // False if the destination holds one image only (e.g. docker-archive).
  virtual bool AcceptsIndex() const { return true; }
  virtual bool HasBlob(const oci::Descriptor& d) = 0;
  // Stores the blob read from `from`, failing with DataLoss if it does not match `d`.
  virtual absl::Status PutBlob(const oci::Descriptor& d, Reader& from) = 0;
  // Stores the blob taken from `src`, which a destination may read more than once (to resume)
  // or not at all (when it can mount it from one of src.BlobOrigins).
  virtual absl::Status PutBlobFrom(ImageSource& src, const oci::Descriptor& d);
  virtual bool ConcurrentBlobs() const { return false; }
  // Stores a manifest or index (a child of the top one, or the top one itself).
  virtual absl::Status PutManifest(const oci::ManifestData& m) = 0;
  // Makes the image visible under the destination's name, `top` being its root.
  virtual absl::Status Commit(const oci::ManifestData& top) = 0;
};

// One image read from a source: its top manifest (maybe an index), the image manifest chosen
// for `platform` out of an index, and the config.
struct LoadedImage {
  oci::ManifestData top;
  oci::ManifestData manifest;
  oci::Manifest parsed;
  std::string config_bytes;
  oci::ImageConfig config;
};
absl::StatusOr<LoadedImage> LoadImage(ImageSource& src, const oci::Platform& platform);
// The platforms an image is for: an index's images' (attestation manifests, platform
// unknown/unknown, left out), else its config's. "linux/amd64", ...
std::vector<std::string> ImagePlatforms(const LoadedImage& image);
// LoadImage for the host's platform, else (an index without it) for the first platform the
// index has.
absl::StatusOr<LoadedImage> LoadAnyImage(ImageSource& src);

// What happened to one blob during a copy.
struct BlobEvent {
  enum Kind { kStarted, kSkipped, kCopied };
  Kind kind;
  oci::Descriptor descriptor;
  double seconds = 0;  // for kCopied
};

struct CopyOptions {
  // Blobs moved at once when both ends allow it.
  int jobs = 4;
  // Called (from any copying thread, one call at a time) as blobs start and finish.
  std::function<void(const BlobEvent&)> on_blob;
  // Called (from any copying thread, concurrently) as bytes of a blob are read from the source.
  std::function<void(const oci::Digest&, size_t bytes)> on_bytes;
  // Copy only the image for this platform out of an index; without it an index is copied whole
  // (or, for a destination that takes one image, the host's platform is chosen).
  std::optional<oci::Platform> platform;
};

// Copies the image; returns the top manifest as committed.
absl::StatusOr<oci::ManifestData> CopyImage(ImageSource& src, ImageDestination& dst,
                                            const CopyOptions& options);

}  // namespace kiln::layers

#endif  // KILN_LAYERS_IMAGE_TRANSFER_H_
