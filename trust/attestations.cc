#include "trust/attestations.h"

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "oci/manifest.h"
#include "oci/media_types.h"

namespace kiln::trust {
namespace {

using nlohmann::ordered_json;

std::string PlatformText(const oci::Platform& p) {
  std::string s = absl::StrCat(p.os, "%2F", p.architecture);
  if (!p.variant.empty()) absl::StrAppend(&s, "%2F", p.variant);
  return s;
}

}  // namespace

std::string InTotoStatement(const Statement& s, const std::string& image_name,
                            const oci::Descriptor& image, const oci::Platform& platform) {
  ordered_json j;
  j["_type"] = "https://in-toto.io/Statement/v1";
  j["subject"] = ordered_json::array(
      {{{"name", absl::StrCat("pkg:docker/", image_name, "?platform=", PlatformText(platform))},
        {"digest", {{"sha256", image.digest.hex()}}}}});
  j["predicateType"] = s.predicate_type;
  j["predicate"] = s.predicate;
  return j.dump();
}

absl::StatusOr<oci::Descriptor> AttachAttestations(const layers::BlobStore& blobs,
                                                   const std::string& image_name,
                                                   const oci::Descriptor& image,
                                                   const oci::Platform& platform,
                                                   const std::vector<Statement>& statements) {
  oci::Manifest m;
  ordered_json config;
  config["architecture"] = "unknown";
  config["os"] = "unknown";
  config["config"] = ordered_json::object();
  config["rootfs"]["type"] = "layers";
  config["rootfs"]["diff_ids"] = ordered_json::array();
  for (const Statement& s : statements) {
    std::string bytes = InTotoStatement(s, image_name, image, platform);
    oci::Descriptor d;
    d.media_type = kInTotoMediaType;
    ASSIGN_OR_RETURN(d.digest, blobs.Put(bytes));
    d.size = static_cast<int64_t>(bytes.size());
    d.annotations["in-toto.io/predicate-type"] = s.predicate_type;
    config["rootfs"]["diff_ids"].push_back(d.digest.str());
    m.layers.push_back(std::move(d));
  }
  std::string config_bytes = config.dump();
  m.config.media_type = oci::kOciConfig;
  ASSIGN_OR_RETURN(m.config.digest, blobs.Put(config_bytes));
  m.config.size = static_cast<int64_t>(config_bytes.size());
  std::string manifest_bytes = m.Serialize();
  oci::Descriptor att;
  att.media_type = oci::kOciManifest;
  ASSIGN_OR_RETURN(att.digest, blobs.Put(manifest_bytes));
  att.size = static_cast<int64_t>(manifest_bytes.size());
  att.platform = oci::Platform{"unknown", "unknown", "", "", {}};
  att.annotations["vnd.docker.reference.type"] = "attestation-manifest";
  att.annotations["vnd.docker.reference.digest"] = image.digest.str();

  oci::Index index;
  index.media_type = oci::kOciIndex;
  oci::Descriptor img = image;
  img.annotations.clear();
  img.platform = platform;
  index.manifests = {img, att};
  std::string index_bytes = index.Serialize();
  oci::Descriptor top;
  top.media_type = oci::kOciIndex;
  ASSIGN_OR_RETURN(top.digest, blobs.Put(index_bytes));
  top.size = static_cast<int64_t>(index_bytes.size());
  return top;
}

}  // namespace kiln::trust
