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

  // Parses "os/arch[/variant]" (or "arch", on linux; "os", on the host's architecture; "local",
  // the host), normalized: "linux/aarch64/v8" is linux/arm64.
  static absl::StatusOr<Platform> Parse(absl::string_view text);
  // The platform kiln runs on, e.g. linux/amd64, normalized.
  static Platform Host();
  // containerd's normal form: architecture aliases folded (x86_64 = amd64, aarch64 = arm64,
  // armhf = arm/v7, armel = arm/v6, i386 = 386), arm64's v8 and amd64's v1 dropped, arm's
  // variant v7 when none is given, all lower case.
  Platform Normalized() const;
  // "linux/arm64/v8".
  std::string str() const;
  // True iff, normalized, os and architecture are equal and, where `want` names a variant,
  // variant too (so arm64 satisfies arm64/v8, arm satisfies arm/v7).
  bool Satisfies(const Platform& want) const;
  // True iff both normalize to the same os, architecture and variant.
  bool SameAs(const Platform& other) const;

  nlohmann::json ToJson() const;
  static absl::StatusOr<Platform> FromJson(const nlohmann::json& j);

  friend bool operator==(const Platform&, const Platform&) = default;
};

}  // namespace kiln::oci

#endif  // KILN_OCI_PLATFORM_H_
