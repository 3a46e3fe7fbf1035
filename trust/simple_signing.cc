#include "trust/simple_signing.h"

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "oci/media_types.h"

namespace kiln::trust {
namespace {

using nlohmann::ordered_json;

}  // namespace

std::string EncodePayload(const SimpleSigning& s) {
  ordered_json j;
  j["critical"]["identity"]["docker-reference"] = s.docker_reference;
  j["critical"]["image"]["docker-manifest-digest"] = s.manifest_digest.str();
  j["critical"]["type"] = kSimpleSigningType;
  if (s.optional.empty()) {
    j["optional"] = nullptr;
  } else {
    for (const auto& [k, v] : s.optional) j["optional"][k] = v;
  }
  return j.dump();
}

absl::StatusOr<SimpleSigning> ParsePayload(absl::string_view bytes) {
  auto bad = [](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat("signature payload: ", why));
  };
  if (bytes.size() > kMaxPayloadSize) return bad("too large");
  nlohmann::json j = nlohmann::json::parse(bytes, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object() || !j.contains("critical") || !j["critical"].is_object()) {
    return bad("no \"critical\" object");
  }
  const nlohmann::json& c = j["critical"];
  if (!c.contains("type") || c["type"] != kSimpleSigningType) {
    return bad("not a cosign container image signature");
  }
  if (!c.contains("identity") || !c["identity"].is_object() ||
      !c["identity"].contains("docker-reference") ||
      !c["identity"]["docker-reference"].is_string()) {
    return bad("no critical.identity.docker-reference");
  }
  if (!c.contains("image") || !c["image"].is_object() ||
      !c["image"].contains("docker-manifest-digest") ||
      !c["image"]["docker-manifest-digest"].is_string()) {
    return bad("no critical.image.docker-manifest-digest");
  }
  SimpleSigning s;
  s.docker_reference = c["identity"]["docker-reference"].get<std::string>();
  absl::StatusOr<oci::Digest> d =
      oci::Digest::Parse(c["image"]["docker-manifest-digest"].get<std::string>());
  if (!d.ok()) return bad(d.status().message());
  s.manifest_digest = *d;
  if (j.contains("optional") && j["optional"].is_object()) {
    for (const auto& [k, v] : j["optional"].items()) {
      if (v.is_string()) s.optional[k] = v.get<std::string>();
    }
  }
  return s;
}

std::string SignatureTag(const oci::Digest& digest) {
  return absl::StrCat("sha256-", digest.hex(), ".sig");
}

absl::StatusOr<std::vector<SignatureLayer>> SignatureLayers(const oci::Manifest& manifest) {
  if (manifest.layers.size() > kMaxSignaturesPerImage) {
    return absl::InvalidArgumentError("the signature manifest has too many layers");
  }
  std::vector<SignatureLayer> out;
  for (const oci::Descriptor& d : manifest.layers) {
    if (d.media_type != kSimpleSigningMediaType) continue;
    auto it = d.annotations.find(kSignatureAnnotation);
    if (it == d.annotations.end()) continue;
    SignatureLayer layer;
    layer.payload = d;
    if (!absl::Base64Unescape(it->second, &layer.signature) || layer.signature.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("signature of payload ", d.digest.str(), " is not base64"));
    }
    out.push_back(std::move(layer));
  }
  if (out.empty()) return absl::NotFoundError("the signature manifest holds no signature");
  return out;
}

SignatureManifest MakeSignatureManifest(const std::vector<SignatureLayer>& layers) {
  ordered_json config;
  config["architecture"] = "";
  config["created"] = "0001-01-01T00:00:00Z";
  config["history"] = ordered_json::array({{{"created", "0001-01-01T00:00:00Z"}}});
  config["os"] = "";
  config["rootfs"]["type"] = "layers";
  config["rootfs"]["diff_ids"] = ordered_json::array();
  for (const SignatureLayer& l : layers)
    config["rootfs"]["diff_ids"].push_back(l.payload.digest.str());
  config["config"] = ordered_json::object();
  SignatureManifest out;
  out.config = config.dump();
  out.config_desc.media_type = oci::kOciConfig;
  out.config_desc.digest = oci::Digest::Of(out.config);
  out.config_desc.size = static_cast<int64_t>(out.config.size());
  oci::Manifest m;
  m.media_type = oci::kOciManifest;
  m.config = out.config_desc;
  for (const SignatureLayer& l : layers) {
    oci::Descriptor d = l.payload;
    d.media_type = kSimpleSigningMediaType;
    d.annotations[kSignatureAnnotation] = absl::Base64Escape(l.signature);
    m.layers.push_back(std::move(d));
  }
  out.manifest = m.Serialize();
  return out;
}

}  // namespace kiln::trust
