// The packages an image holds, read from its layers bottom to top (whiteouts applied) without
// unpacking it: the dpkg and apk databases of trust/packages.h, each package with the layer
// that put it there (the lowest layer from which on the database lists it as it is at the top).
#ifndef KILN_TRUST_INVENTORY_H_
#define KILN_TRUST_INVENTORY_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "layers/image_transfer.h"
#include "oci/descriptor.h"
#include "oci/digest.h"
#include "trust/packages.h"

namespace kiln::trust {

struct FoundPackage {
  Package package;
  std::string purl;
  std::string database;  // the file that lists it ("var/lib/dpkg/status")
  oci::Digest layer;     // the layer blob that put it there
  int layer_index = 0;   // 0 = the bottom layer
};

struct Inventory {
  std::map<std::string, std::string> os_release;
  std::vector<FoundPackage> packages;  // sorted by type, name, version
};

// Reads the `layers` (bottom first) of an image from `source`.
absl::StatusOr<Inventory> InventoryOf(layers::ImageSource& source,
                                      const std::vector<oci::Descriptor>& layers);

}  // namespace kiln::trust

#endif  // KILN_TRUST_INVENTORY_H_
