// Blobs an image in the store refers to but the store does not hold (a build whose layers
// came from a registry build cache keeps only their origins, as BuildKit keeps lazy blobs;
// the OCI layout spec allows blobs "fulfilled by an external blob store"). They are fetched,
// verified, from the registry repositories the store's `origins/` names for them, when
// something reads them; a push to a registry that has them or can mount them never does.
// Thread-safe.
#ifndef KILN_TRANSFER_ORIGIN_BLOBS_H_
#define KILN_TRANSFER_ORIGIN_BLOBS_H_

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "layers/store.h"
#include "oci/descriptor.h"
#include "registry/client.h"

namespace kiln::transfer {

class OriginBlobs {
 public:
  OriginBlobs(layers::Store* store, registry::RegistryOptions options)
      : store_(store), options_(std::move(options)) {}

  // Copies `d` into the store from the first of its origins that serves it; OK at once when
  // the store holds it. NotFound (naming the origins tried) when none does.
  absl::Status Fetch(const oci::Descriptor& d);
  absl::Status FetchAll(const std::vector<oci::Descriptor>& blobs);

 private:
  absl::StatusOr<std::shared_ptr<registry::Registry>> Connect(const std::string& domain);

  layers::Store* store_;
  registry::RegistryOptions options_;
  std::mutex mu_;
  std::map<std::string, std::shared_ptr<registry::Registry>> registries_;
};

}  // namespace kiln::transfer

#endif  // KILN_TRANSFER_ORIGIN_BLOBS_H_
