#include "oci/manifest.h"

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "oci/json_util.h"
#include "oci/media_types.h"

namespace kiln::oci {

bool IsIndexMediaType(absl::string_view t) { return t == kOciIndex || t == kDockerManifestList; }
bool IsManifestMediaType(absl::string_view t) { return t == kOciManifest || t == kDockerManifest; }
bool IsLayerMediaType(absl::string_view t) {
  return t == kOciLayer || t == kOciLayerGzip || t == kOciLayerZstd || t == kDockerLayerGzip ||
         t == kDockerForeignLayerGzip || t == kOciLayerNondistributableGzip ||
         t == "application/vnd.oci.image.layer.nondistributable.v1.tar" ||
         t == "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd";
}

namespace {

absl::StatusOr<std::string> MediaTypeOf(const nlohmann::json& doc) {
  int64_t schema_version = 0;
  RETURN_IF_ERROR(GetInt64(doc, "schemaVersion", &schema_version));
  std::string media_type;
  RETURN_IF_ERROR(GetString(doc, "mediaType", &media_type));
  if (schema_version == 1 || media_type == kDockerSchema1 || media_type == kDockerSchema1Signed) {
    return absl::InvalidArgumentError(
        "Docker schema 1 manifests are deprecated and not supported; re-push the image with a "
        "current tool");
  }
  if (schema_version != 2) {
    return absl::InvalidArgumentError(
        absl::StrCat("unsupported schemaVersion ", schema_version, " (want 2)"));
  }
  if (!media_type.empty()) return media_type;
  if (doc.contains("manifests")) return std::string(kOciIndex);
  if (doc.contains("config") || doc.contains("layers")) return std::string(kOciManifest);
  return absl::InvalidArgumentError("neither a manifest nor an index");
}

absl::Status ParseDescriptorList(const nlohmann::json& doc, const char* key,
                                 std::vector<Descriptor>* out) {
  auto it = doc.find(key);
  if (it == doc.end() || it->is_null()) return absl::OkStatus();
  if (!it->is_array()) {
    return absl::InvalidArgumentError(absl::StrCat("field \"", key, "\": expected an array"));
  }
  for (size_t i = 0; i < it->size(); ++i) {
    ASSIGN_OR_RETURN_CTX(Descriptor d, Descriptor::FromJson((*it)[i]), key, "[", i, "]");
    out->push_back(std::move(d));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::string> DetectManifestMediaType(absl::string_view bytes) {
  ASSIGN_OR_RETURN(nlohmann::json doc, ParseJsonObject(bytes, "manifest", kMaxManifestSize));
  return MediaTypeOf(doc);
}

absl::StatusOr<Manifest> Manifest::Parse(absl::string_view bytes) {
  ASSIGN_OR_RETURN(nlohmann::json doc, ParseJsonObject(bytes, "manifest", kMaxManifestSize));
  Manifest m;
  ASSIGN_OR_RETURN(m.media_type, MediaTypeOf(doc));
  if (!IsManifestMediaType(m.media_type)) {
    return absl::InvalidArgumentError(
        absl::StrCat("manifest: unexpected media type \"", m.media_type, "\""));
  }
  auto config = doc.find("config");
  if (config == doc.end()) return absl::InvalidArgumentError("manifest: missing config");
  ASSIGN_OR_RETURN_CTX(m.config, Descriptor::FromJson(*config), "manifest: config");
  RETURN_IF_ERROR_CTX(ParseDescriptorList(doc, "layers", &m.layers), "manifest");
  RETURN_IF_ERROR_CTX(GetStringMap(doc, "annotations", &m.annotations), "manifest");
  RETURN_IF_ERROR_CTX(GetString(doc, "artifactType", &m.artifact_type), "manifest");
  if (auto s = doc.find("subject"); s != doc.end() && !s->is_null()) {
    ASSIGN_OR_RETURN_CTX(m.subject, Descriptor::FromJson(*s), "manifest: subject");
  }
  return m;
}

std::string Manifest::Serialize() const {
  nlohmann::json j = nlohmann::json::object();
  j["schemaVersion"] = 2;
  j["mediaType"] = media_type;
  if (!artifact_type.empty()) j["artifactType"] = artifact_type;
  j["config"] = config.ToJson();
  j["layers"] = nlohmann::json::array();
  for (const Descriptor& l : layers) j["layers"].push_back(l.ToJson());
  if (subject) j["subject"] = subject->ToJson();
  if (!annotations.empty()) j["annotations"] = annotations;
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

absl::StatusOr<Index> Index::Parse(absl::string_view bytes) {
  ASSIGN_OR_RETURN(nlohmann::json doc, ParseJsonObject(bytes, "index", kMaxManifestSize));
  Index idx;
  ASSIGN_OR_RETURN(idx.media_type, MediaTypeOf(doc));
  if (!IsIndexMediaType(idx.media_type)) {
    return absl::InvalidArgumentError(
        absl::StrCat("index: unexpected media type \"", idx.media_type, "\""));
  }
  RETURN_IF_ERROR_CTX(ParseDescriptorList(doc, "manifests", &idx.manifests), "index");
  RETURN_IF_ERROR_CTX(GetStringMap(doc, "annotations", &idx.annotations), "index");
  return idx;
}

std::string Index::Serialize() const {
  nlohmann::json j = nlohmann::json::object();
  j["schemaVersion"] = 2;
  if (!media_type.empty()) j["mediaType"] = media_type;
  j["manifests"] = nlohmann::json::array();
  for (const Descriptor& d : manifests) j["manifests"].push_back(d.ToJson());
  if (!annotations.empty()) j["annotations"] = annotations;
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

Descriptor ManifestData::ToDescriptor() const {
  Descriptor d;
  d.media_type = media_type;
  d.digest = digest;
  d.size = static_cast<int64_t>(bytes.size());
  return d;
}

absl::StatusOr<ManifestData> ManifestData::FromBytes(std::string bytes) {
  ManifestData m;
  ASSIGN_OR_RETURN(m.media_type, DetectManifestMediaType(bytes));
  if (!IsIndexMediaType(m.media_type) && !IsManifestMediaType(m.media_type)) {
    return absl::InvalidArgumentError(
        absl::StrCat("unsupported manifest media type \"", m.media_type, "\""));
  }
  m.digest = Digest::Of(bytes);
  m.bytes = std::move(bytes);
  return m;
}

}  // namespace kiln::oci
