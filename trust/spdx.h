// An SPDX 2.3 JSON document (https://spdx.github.io/spdx-spec/v2.3/) of what an image holds:
// the image as the described package, each package of its inventory CONTAINed by it, with its
// version, declared license (NOASSERTION where the database declares none), its PURL as an
// external reference and, in its annotations, the layer that put it there.
#ifndef KILN_TRUST_SPDX_H_
#define KILN_TRUST_SPDX_H_

#include <string>

#include "nlohmann/json.hpp"
#include "oci/digest.h"
#include "trust/inventory.h"

namespace kiln::trust {

struct SpdxSubject {
  std::string name;     // the image's name ("registry.example/app:1"), or its digest
  oci::Digest digest;   // its manifest
  std::string created;  // RFC 3339, UTC
  std::string tool;     // "kiln-1.2.3"
};

nlohmann::ordered_json SpdxJson(const Inventory& inventory, const SpdxSubject& subject);
// The same, as the JSON text `kiln sbom` prints.
std::string SpdxDocument(const Inventory& inventory, const SpdxSubject& subject);

}  // namespace kiln::trust

#endif  // KILN_TRUST_SPDX_H_
