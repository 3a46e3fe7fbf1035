#include "trust/attestations.h"

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "layers/image_commit.h"
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

absl::StatusOr<oci::Descriptor> AttestationManifest(const layers::BlobStore& blobs,
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
    ASSIGN_OR_RETURN(
        oci::Descriptor d,
        layers::PutBytes(blobs, kInTotoMediaType, InTotoStatement(s, image_name, image, platform)));
    d.annotations["in-toto.io/predicate-type"] = s.predicate_type;
    config["rootfs"]["diff_ids"].push_back(d.digest.str());
    m.layers.push_back(std::move(d));
  }
  ASSIGN_OR_RETURN(m.config, layers::PutBytes(blobs, oci::kOciConfig, config.dump()));
  ASSIGN_OR_RETURN(oci::Descriptor att, layers::PutBytes(blobs, oci::kOciManifest, m.Serialize()));
  att.platform = oci::Platform{"unknown", "unknown", "", "", {}};
  att.annotations["vnd.docker.reference.type"] = "attestation-manifest";
  att.annotations["vnd.docker.reference.digest"] = image.digest.str();
  return att;
}

absl::StatusOr<oci::Descriptor> AttachAttestations(const layers::BlobStore& blobs,
                                                   const std::string& image_name,
                                                   const oci::Descriptor& image,
                                                   const oci::Platform& platform,
                                                   const std::vector<Statement>& statements) {
  ASSIGN_OR_RETURN(oci::Descriptor att,
                   AttestationManifest(blobs, image_name, image, platform, statements));
  oci::Descriptor img = image;
  img.annotations.clear();
  img.platform = platform;
  return layers::CommitIndex(blobs, {img, att});
}

}  // namespace kiln::trust
