#include "layers/layout_transport.h"

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "oci/json_util.h"

namespace kiln::layers {
namespace {

class BlobStoreSource : public ImageSource {
 public:
  BlobStoreSource(const BlobStore* blobs, oci::Descriptor root, bool verified)
      : blobs_(blobs), root_(std::move(root)), verified_(verified) {}

  absl::StatusOr<oci::ManifestData> GetManifest() override { return Read(root_); }
  absl::StatusOr<oci::ManifestData> GetChildManifest(const oci::Descriptor& d) override {
    return Read(d);
  }
  absl::StatusOr<std::unique_ptr<Reader>> OpenBlob(const oci::Descriptor& d) override {
    return blobs_->Open(d.digest, d.size);
  }
  absl::StatusOr<std::unique_ptr<Reader>> OpenBlobUnverified(const oci::Descriptor& d) override {
    return blobs_->OpenUnverified(d.digest);
  }
  bool ConcurrentBlobs() const override { return true; }
  std::optional<bool> BlobExists(const oci::Descriptor& d) override {
    return blobs_->Has(d.digest);
  }
  std::optional<std::string> VerifiedBlobFile(const oci::Descriptor& d) override {
    if (!verified_ || !blobs_->Has(d.digest)) return std::nullopt;
    return blobs_->PathOf(d.digest);
  }

 private:
  absl::StatusOr<oci::ManifestData> Read(const oci::Descriptor& d) {
    if (d.size > static_cast<int64_t>(oci::kMaxManifestSize)) {
      return absl::InvalidArgumentError(
          absl::StrCat("manifest ", d.digest.str(), " is too large (", d.size, " bytes)"));
    }
    ASSIGN_OR_RETURN(auto reader, blobs_->Open(d.digest, d.size));
    ASSIGN_OR_RETURN(std::string bytes, ReadAllFrom(*reader, oci::kMaxManifestSize));
    ASSIGN_OR_RETURN_CTX(oci::ManifestData m, oci::ManifestData::FromBytes(std::move(bytes)),
                         "manifest ", d.digest.str());
    // The descriptor's media type is authoritative where the document does not name one.
    if (!d.media_type.empty()) m.media_type = d.media_type;
    return m;
  }

  const BlobStore* blobs_;
  oci::Descriptor root_;
  bool verified_;
};

class BlobStoreDestination : public ImageDestination {
 public:
  BlobStoreDestination(const BlobStore* blobs,
                       std::function<absl::Status(const oci::Descriptor&)> commit)
      : blobs_(blobs), commit_(std::move(commit)) {}

  bool HasBlob(const oci::Descriptor& d) override {
    auto size = blobs_->Size(d.digest);
    return size.ok() && *size == d.size;
  }
  absl::Status PutBlob(const oci::Descriptor& d, Reader& from) override {
    return blobs_->PutFrom(from, d.digest, d.size).status();
  }
  // A verified local file on the same file system is linked; otherwise the ingest checks
  // digest and size before the blob becomes visible.
  absl::Status PutBlobFrom(ImageSource& src, const oci::Descriptor& d) override {
    if (std::optional<std::string> file = src.VerifiedBlobFile(d); file) {
      if (blobs_->Link(*file, d.digest, d.size).ok()) return absl::OkStatus();
    }
    ASSIGN_OR_RETURN(auto reader, src.OpenBlobUnverified(d));
    return PutBlob(d, *reader);
  }
  bool ConcurrentBlobs() const override { return true; }
  absl::Status PutManifest(const oci::ManifestData& m) override {
    ASSIGN_OR_RETURN(oci::Digest got, blobs_->Put(m.bytes));
    if (got != m.digest) return absl::DataLossError("manifest digest mismatch");
    return absl::OkStatus();
  }
  absl::Status Commit(const oci::ManifestData& top) override { return commit_(top.ToDescriptor()); }

 private:
  const BlobStore* blobs_;
  std::function<absl::Status(const oci::Descriptor&)> commit_;
};

}  // namespace

std::unique_ptr<ImageSource> NewBlobStoreSource(const BlobStore* blobs, oci::Descriptor root,
                                                bool verified) {
  return std::make_unique<BlobStoreSource>(blobs, std::move(root), verified);
}

std::unique_ptr<ImageDestination> NewBlobStoreDestination(
    const BlobStore* blobs, std::function<absl::Status(const oci::Descriptor&)> commit) {
  return std::make_unique<BlobStoreDestination>(blobs, std::move(commit));
}

}  // namespace kiln::layers
