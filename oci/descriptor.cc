#include "oci/descriptor.h"

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "oci/json_util.h"

namespace kiln::oci {

nlohmann::json Descriptor::ToJson() const {
  nlohmann::json j = nlohmann::json::object();
  j["mediaType"] = media_type;
  j["digest"] = digest.str();
  j["size"] = size;
  if (!urls.empty()) j["urls"] = urls;
  if (!annotations.empty()) j["annotations"] = annotations;
  if (platform) j["platform"] = platform->ToJson();
  if (!artifact_type.empty()) j["artifactType"] = artifact_type;
  return j;
}

absl::StatusOr<Descriptor> Descriptor::FromJson(const nlohmann::json& j) {
  if (!j.is_object()) return absl::InvalidArgumentError("descriptor: expected an object");
  Descriptor d;
  std::string digest;
  RETURN_IF_ERROR(GetString(j, "mediaType", &d.media_type));
  RETURN_IF_ERROR(GetString(j, "digest", &digest));
  RETURN_IF_ERROR(GetInt64(j, "size", &d.size));
  RETURN_IF_ERROR(GetStringList(j, "urls", &d.urls));
  RETURN_IF_ERROR(GetStringMap(j, "annotations", &d.annotations));
  RETURN_IF_ERROR(GetString(j, "artifactType", &d.artifact_type));
  if (d.size < 0) return absl::InvalidArgumentError("descriptor: negative size");
  if (digest.empty()) return absl::InvalidArgumentError("descriptor: missing digest");
  ASSIGN_OR_RETURN_CTX(d.digest, Digest::Parse(digest), "descriptor");
  if (auto it = j.find("platform"); it != j.end() && !it->is_null()) {
    ASSIGN_OR_RETURN(d.platform, Platform::FromJson(*it));
  }
  return d;
}

}  // namespace kiln::oci
