#include "oci/platform.h"

#include <sys/utsname.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "base/status_macros.h"
#include "oci/json_util.h"

namespace kiln::oci {

absl::StatusOr<Platform> Platform::Parse(absl::string_view text) {
  std::vector<std::string> parts = absl::StrSplit(text, '/');
  if (parts.size() < 2 || parts.size() > 3 || parts[0].empty() || parts[1].empty() ||
      (parts.size() == 3 && parts[2].empty())) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid platform \"", text, "\": want os/arch[/variant]"));
  }
  Platform p;
  p.os = parts[0];
  p.architecture = parts[1];
  if (parts.size() == 3) p.variant = parts[2];
  return p;
}

Platform Platform::Host() {
  Platform p;
  p.os = "linux";
  struct utsname u;
  std::string machine = ::uname(&u) == 0 ? u.machine : "x86_64";
  if (machine == "x86_64") {
    p.architecture = "amd64";
  } else if (machine == "aarch64") {
    p.architecture = "arm64";
    p.variant = "v8";
  } else if (machine.rfind("armv7", 0) == 0) {
    p.architecture = "arm";
    p.variant = "v7";
  } else if (machine == "i686" || machine == "i386") {
    p.architecture = "386";
  } else {
    p.architecture = machine;
  }
  return p;
}

std::string Platform::str() const {
  std::string s = absl::StrCat(os, "/", architecture);
  if (!variant.empty()) absl::StrAppend(&s, "/", variant);
  return s;
}

bool Platform::Satisfies(const Platform& want) const {
  if (os != want.os || architecture != want.architecture) return false;
  if (want.variant.empty() || want.variant == variant) return true;
  // arm64 images commonly omit the "v8" variant.
  return want.architecture == "arm64" && want.variant == "v8" && variant.empty();
}

nlohmann::json Platform::ToJson() const {
  nlohmann::json j = nlohmann::json::object();
  j["architecture"] = architecture;
  j["os"] = os;
  if (!os_version.empty()) j["os.version"] = os_version;
  if (!os_features.empty()) j["os.features"] = os_features;
  if (!variant.empty()) j["variant"] = variant;
  return j;
}

absl::StatusOr<Platform> Platform::FromJson(const nlohmann::json& j) {
  if (!j.is_object()) return absl::InvalidArgumentError("platform: expected an object");
  Platform p;
  RETURN_IF_ERROR_CTX(GetString(j, "os", &p.os), "platform");
  RETURN_IF_ERROR_CTX(GetString(j, "architecture", &p.architecture), "platform");
  RETURN_IF_ERROR_CTX(GetString(j, "variant", &p.variant), "platform");
  RETURN_IF_ERROR_CTX(GetString(j, "os.version", &p.os_version), "platform");
  RETURN_IF_ERROR_CTX(GetStringList(j, "os.features", &p.os_features), "platform");
  return p;
}

}  // namespace kiln::oci
