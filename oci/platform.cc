#include "oci/platform.h"

#include <sys/utsname.h>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "base/status_macros.h"
#include "oci/json_util.h"

namespace kiln::oci {

namespace {

bool KnownOs(absl::string_view os) {
  for (absl::string_view known :
       {"linux", "windows", "darwin", "freebsd", "netbsd", "openbsd", "solaris", "illumos",
        "android", "ios", "aix", "plan9", "dragonfly", "js", "wasip1"}) {
    if (os == known) return true;
  }
  return false;
}

}  // namespace

absl::StatusOr<Platform> Platform::Parse(absl::string_view text) {
  if (text == "local") return Host();
  std::vector<std::string> parts = absl::StrSplit(text, '/');
  for (const std::string& part : parts) {
    if (part.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("invalid platform \"", text, "\": want os/arch[/variant]"));
    }
  }
  Platform p;
  if (parts.size() == 1) {
    // "linux" names the host's architecture on that system, "arm64" that architecture on linux.
    std::string one = absl::AsciiStrToLower(parts[0]);
    if (KnownOs(one)) {
      p = Host();
      p.os = one;
      return p;
    }
    p.os = "linux";
    p.architecture = parts[0];
  } else if (parts.size() <= 3) {
    p.os = parts[0];
    p.architecture = parts[1];
    if (parts.size() == 3) p.variant = parts[2];
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid platform \"", text, "\": want os/arch[/variant]"));
  }
  return p.Normalized();
}

Platform Platform::Normalized() const {
  Platform p = *this;
  p.os = absl::AsciiStrToLower(p.os);
  if (p.os == "macos") p.os = "darwin";
  std::string arch = absl::AsciiStrToLower(p.architecture);
  std::string variant = absl::AsciiStrToLower(p.variant);
  if (arch == "i386") {
    arch = "386";
    variant = "";
  } else if (arch == "x86_64" || arch == "x86-64" || arch == "amd64") {
    arch = "amd64";
    if (variant == "v1") variant = "";
  } else if (arch == "aarch64" || arch == "arm64") {
    arch = "arm64";
    if (variant == "8" || variant == "v8" || variant == "v8.0") variant = "";
  } else if (arch == "armhf") {
    arch = "arm";
    variant = "v7";
  } else if (arch == "armel") {
    arch = "arm";
    variant = "v6";
  } else if (arch == "arm") {
    if (variant.empty() || variant == "7") {
      variant = "v7";
    } else if (variant == "5" || variant == "6" || variant == "8") {
      variant = "v" + variant;
    }
  }
  p.architecture = arch;
  p.variant = variant;
  return p;
}

Platform Platform::Host() {
  Platform p;
  p.os = "linux";
  struct utsname u;
  std::string machine = ::uname(&u) == 0 ? u.machine : "x86_64";
  if (machine.rfind("armv", 0) == 0 && machine.size() >= 5) {
    p.architecture = "arm";
    p.variant = std::string("v") + machine[4];
  } else if (machine == "i686" || machine == "i586" || machine == "i386") {
    p.architecture = "386";
  } else {
    p.architecture = machine;
  }
  return p.Normalized();
}

std::string Platform::str() const {
  std::string s = absl::StrCat(os, "/", architecture);
  if (!variant.empty()) absl::StrAppend(&s, "/", variant);
  return s;
}

bool Platform::Satisfies(const Platform& want) const {
  Platform have = Normalized();
  Platform w = want.Normalized();
  if (have.os != w.os || have.architecture != w.architecture) return false;
  return w.variant.empty() || w.variant == have.variant;
}

bool Platform::SameAs(const Platform& other) const {
  Platform a = Normalized(), b = other.Normalized();
  return a.os == b.os && a.architecture == b.architecture && a.variant == b.variant;
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
