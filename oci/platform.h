// The platform an image runs on (os, architecture, variant), as in image indexes and configs.
#ifndef KILN_OCI_PLATFORM_H_
#define KILN_OCI_PLATFORM_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "nlohmann/json.hpp"

namespace kiln::oci {

struct Platform {
  std::string os;
  std::string architecture;
  std::string variant;
  std::string os_version;
  std::vector<std::string> os_features;

  // Parses "os/arch[/variant]", e.g. "linux/arm64/v8".
  static absl::StatusOr<Platform> Parse(absl::string_view text);
  // The platform kiln runs on, e.g. linux/amd64.
  static Platform Host();
  // "linux/arm64/v8".
  std::string str() const;
  // True iff os and architecture are equal and, where `want` names a variant, variant too.
  bool Satisfies(const Platform& want) const;

  nlohmann::json ToJson() const;
  static absl::StatusOr<Platform> FromJson(const nlohmann::json& j);

  friend bool operator==(const Platform&, const Platform&) = default;
};

}  // namespace kiln::oci

#endif  // KILN_OCI_PLATFORM_H_
