#include "registry/transport.h"

#include <optional>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"

namespace kiln::registry {
namespace {

class RegistrySource : public layers::ImageSource {
 public:
  RegistrySource(std::shared_ptr<Registry> reg, std::string repo, std::string reference)
      : reg_(std::move(reg)), repo_(std::move(repo)), reference_(std::move(reference)) {}

  absl::StatusOr<oci::ManifestData> GetManifest() override {
    return reg_->GetManifest(repo_, reference_);
  }
  absl::StatusOr<oci::ManifestData> GetChildManifest(const oci::Descriptor& d) override {
    ASSIGN_OR_RETURN(oci::ManifestData m, reg_->GetManifest(repo_, d.digest.str()));
    if (static_cast<int64_t>(m.bytes.size()) != d.size) {
      return absl::DataLossError(absl::StrCat("manifest ", d.digest.str(), " has ", m.bytes.size(),
                                              " bytes, the index says ", d.size));
    }
    return m;
  }
  absl::StatusOr<std::unique_ptr<Reader>> OpenBlob(const oci::Descriptor& d) override {
    return reg_->OpenBlob(repo_, d);
  }
  absl::StatusOr<std::unique_ptr<Reader>> OpenBlobUnverified(const oci::Descriptor& d) override {
    return reg_->OpenBlobUnverified(repo_, d);
  }
  bool ConcurrentBlobs() const override { return true; }
  std::optional<bool> BlobExists(const oci::Descriptor& d) override {
    absl::StatusOr<bool> has = reg_->HasBlob(repo_, d);
    return has.ok() && *has;  // a registry that cannot answer has nothing to give either
  }
  std::vector<std::string> BlobOrigins(const oci::Descriptor&) override {
    return {absl::StrCat(reg_->domain(), "/", repo_)};
  }

 private:
  std::shared_ptr<Registry> reg_;
  std::string repo_;
  std::string reference_;
};

class RegistryDestination : public layers::ImageDestination {
 public:
  RegistryDestination(std::shared_ptr<Registry> reg, std::string repo, std::string tag)
      : reg_(std::move(reg)), repo_(std::move(repo)), tag_(std::move(tag)) {}

  bool HasBlob(const oci::Descriptor& d) override {
    return reg_->HasBlob(repo_, d).value_or(false);
  }

  absl::Status PutBlob(const oci::Descriptor& d, Reader& from) override {
    bool used = false;
    return reg_->PushBlob(repo_, d, [&]() -> absl::StatusOr<std::unique_ptr<Reader>> {
      if (used) {
        return absl::UnavailableError("the upload broke and this source cannot be read again");
      }
      used = true;
      return std::unique_ptr<Reader>(new ReaderRef(from));
    });
  }

  absl::Status PutBlobFrom(layers::ImageSource& src, const oci::Descriptor& d) override {
    const std::string prefix = reg_->domain() + "/";
    for (const std::string& origin : src.BlobOrigins(d)) {
      if (!absl::StartsWith(origin, prefix)) continue;
      std::string from = origin.substr(prefix.size());
      if (from == repo_) continue;
      ASSIGN_OR_RETURN(bool mounted, reg_->MountBlob(repo_, d, from));
      if (mounted) return absl::OkStatus();
    }
    // The registry checks the digest before it links the blob (DIGEST_INVALID otherwise), so
    // the bytes are read without hashing them here too.
    return reg_->PushBlob(repo_, d, [&] { return src.OpenBlobUnverified(d); });
  }

  bool ConcurrentBlobs() const override { return true; }

  // The last manifest is held back: if it is the top one, Commit pushes it under the tag only.
  absl::Status PutManifest(const oci::ManifestData& m) override {
    if (pending_) RETURN_IF_ERROR(reg_->PutManifest(repo_, pending_->digest.str(), *pending_));
    pending_ = m;
    return absl::OkStatus();
  }

  absl::Status Commit(const oci::ManifestData& top) override {
    if (pending_ && pending_->digest != top.digest) {
      RETURN_IF_ERROR(reg_->PutManifest(repo_, pending_->digest.str(), *pending_));
    }
    pending_.reset();
    return reg_->PutManifest(repo_, tag_.empty() ? top.digest.str() : tag_, top);
  }

 private:
  // A Reader forwarding to one it does not own.
  class ReaderRef : public Reader {
   public:
    explicit ReaderRef(Reader& r) : r_(r) {}
    absl::StatusOr<size_t> Read(char* buf, size_t n) override { return r_.Read(buf, n); }

   private:
    Reader& r_;
  };

  std::shared_ptr<Registry> reg_;
  std::string repo_;
  std::string tag_;
  std::optional<oci::ManifestData> pending_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<layers::ImageSource>> OpenRegistrySource(
    const oci::Reference& ref, const RegistryOptions& options) {
  ASSIGN_OR_RETURN(std::shared_ptr<Registry> reg, Registry::Connect(ref.domain(), options));
  std::string reference = ref.digest() ? ref.digest()->str() : ref.TagOrDefault();
  return std::make_unique<RegistrySource>(std::move(reg), ref.path(), reference);
}

absl::StatusOr<std::unique_ptr<layers::ImageDestination>> OpenRegistryDestination(
    const oci::Reference& ref, const RegistryOptions& options) {
  ASSIGN_OR_RETURN(std::shared_ptr<Registry> reg, Registry::Connect(ref.domain(), options));
  std::string tag = ref.digest() ? ref.tag() : ref.TagOrDefault();
  return std::make_unique<RegistryDestination>(std::move(reg), ref.path(), tag);
}

}  // namespace kiln::registry
