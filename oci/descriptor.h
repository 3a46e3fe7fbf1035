// A content descriptor: what a blob is (media type), where it is (digest) and its size.
#ifndef KILN_OCI_DESCRIPTOR_H_
#define KILN_OCI_DESCRIPTOR_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"
#include "oci/digest.h"
#include "oci/platform.h"

namespace kiln::oci {

struct Descriptor {
  std::string media_type;
  Digest digest;
  int64_t size = 0;
  std::vector<std::string> urls;
  std::map<std::string, std::string> annotations;
  std::optional<Platform> platform;
  std::string artifact_type;

  nlohmann::json ToJson() const;
  // Validates digest syntax and that size is not negative.
  static absl::StatusOr<Descriptor> FromJson(const nlohmann::json& j);
};

}  // namespace kiln::oci

#endif  // KILN_OCI_DESCRIPTOR_H_
