#include "transfer/image_location.h"

#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "oci/reference.h"

namespace kiln::transfer {

std::string ImageLocation::String() const {
  const char* prefix = "";
  switch (transport) {
    case Transport::kStore:
      return name;
    case Transport::kRegistry:
      return absl::StrCat("docker://", name);
    case Transport::kOciLayout:
      prefix = "oci:";
      break;
    case Transport::kOciArchive:
      prefix = "oci-archive:";
      break;
    case Transport::kDockerArchive:
      prefix = "docker-archive:";
      break;
  }
  return name.empty() ? absl::StrCat(prefix, path) : absl::StrCat(prefix, path, ":", name);
}

absl::StatusOr<ImageLocation> ParseImageLocation(absl::string_view text) {
  static constexpr std::pair<const char*, Transport> kTransports[] = {
      {"oci:", Transport::kOciLayout},
      {"oci-archive:", Transport::kOciArchive},
      {"docker-archive:", Transport::kDockerArchive},
  };
  ImageLocation loc;
  for (const auto& [prefix, transport] : kTransports) {
    if (!absl::StartsWith(text, prefix)) continue;
    absl::string_view rest = text.substr(std::strlen(prefix));
    size_t colon = rest.find(':');
    loc.transport = transport;
    loc.path = std::string(rest.substr(0, colon));
    if (colon != absl::string_view::npos) loc.name = std::string(rest.substr(colon + 1));
    if (loc.path.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("\"", text, "\": missing path"));
    }
    return loc;
  }
  if (absl::StartsWith(text, "docker://")) {
    loc.transport = Transport::kRegistry;
    ASSIGN_OR_RETURN(oci::Reference ref, oci::Reference::Parse(text.substr(9)));
    loc.name = ref.String();
    return loc;
  }
  for (const char* other : {"dir:", "docker-daemon:", "containers-storage:", "ostree:", "sif:"}) {
    if (absl::StartsWith(text, other)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "\"", text, "\": unsupported transport \"", other,
          "\" (kiln reads oci:, oci-archive:, docker-archive:, docker:// and names in its store)"));
    }
  }
  if (text.empty()) return absl::InvalidArgumentError("empty image name");
  loc.transport = Transport::kStore;
  loc.name = std::string(text);
  return loc;
}

}  // namespace kiln::transfer
