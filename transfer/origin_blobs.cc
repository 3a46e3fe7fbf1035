#include "transfer/origin_blobs.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/status_macros.h"
#include "oci/reference.h"

namespace kiln::transfer {

absl::StatusOr<std::shared_ptr<registry::Registry>> OriginBlobs::Connect(
    const std::string& domain) {
  std::lock_guard<std::mutex> lock(mu_);
  if (auto it = registries_.find(domain); it != registries_.end()) return it->second;
  ASSIGN_OR_RETURN(std::shared_ptr<registry::Registry> reg,
                   registry::Registry::Connect(domain, options_));
  registries_[domain] = reg;
  return reg;
}

absl::Status OriginBlobs::Fetch(const oci::Descriptor& d) {
  if (store_->blobs().Has(d.digest)) return absl::OkStatus();
  std::vector<std::string> origins = store_->Origins(d.digest);
  std::vector<std::string> failed;
  for (const std::string& origin : origins) {
    absl::Status s = [&]() -> absl::Status {
      ASSIGN_OR_RETURN(oci::Reference repo, oci::Reference::Parse(origin));
      ASSIGN_OR_RETURN(std::shared_ptr<registry::Registry> reg, Connect(repo.domain()));
      ASSIGN_OR_RETURN(std::unique_ptr<Reader> r, reg->OpenBlobUnverified(repo.path(), d));
      return store_->blobs().PutFrom(*r, d.digest, d.size).status();
    }();
    if (s.ok()) return s;
    failed.push_back(absl::StrCat(origin, ": ", s.message()));
  }
  if (origins.empty()) {
    return absl::NotFoundError(absl::StrCat("blob ", d.digest.str(), " is not in the store"));
  }
  return absl::NotFoundError(absl::StrCat("blob ", d.digest.str(),
                                          " is not in the store, and its origins failed (",
                                          absl::StrJoin(failed, "; "), ")"));
}

absl::Status OriginBlobs::FetchAll(const std::vector<oci::Descriptor>& blobs) {
  for (const oci::Descriptor& d : blobs) RETURN_IF_ERROR(Fetch(d));
  return absl::OkStatus();
}

}  // namespace kiln::transfer
