#include "trust/signatures.h"

#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/io.h"
#include "base/status_macros.h"
#include "oci/reference.h"
#include "transfer/image_location.h"

namespace kiln::trust {
namespace {

// The signature manifest being written: its manifest, config and payloads from memory.
class MemorySource : public layers::ImageSource {
 public:
  MemorySource(oci::ManifestData manifest, std::map<std::string, std::string> blobs)
      : manifest_(std::move(manifest)), blobs_(std::move(blobs)) {}
  absl::StatusOr<oci::ManifestData> GetManifest() override { return manifest_; }
  absl::StatusOr<oci::ManifestData> GetChildManifest(const oci::Descriptor&) override {
    return absl::InvalidArgumentError("a signature manifest has no child manifests");
  }
  absl::StatusOr<std::unique_ptr<Reader>> OpenBlob(const oci::Descriptor& d) override {
    auto it = blobs_.find(d.digest.str());
    if (it == blobs_.end()) return absl::NotFoundError(absl::StrCat("no blob ", d.digest.str()));
    return std::make_unique<StringReader>(it->second);
  }

 private:
  oci::ManifestData manifest_;
  std::map<std::string, std::string> blobs_;
};

// An image and the place its signatures go.
struct Target {
  transfer::ImageLocation image;
  transfer::ImageLocation signatures;
  std::string repository;  // "registry.example/team/app"
  oci::Digest digest;
};

// Where the signatures of `digest` go beside the image at `image`.
absl::StatusOr<transfer::ImageLocation> SignatureLocation(const transfer::ImageLocation& image,
                                                          const oci::Digest& digest) {
  if (image.transport != transfer::Transport::kRegistry &&
      image.transport != transfer::Transport::kStore) {
    return absl::InvalidArgumentError(
        absl::StrCat(image.String(), ": signatures live beside images in a registry or the store"));
  }
  ASSIGN_OR_RETURN(oci::Reference ref, oci::Reference::Parse(image.name));
  transfer::ImageLocation out = image;
  out.name = absl::StrCat(ref.Repository(), ":", SignatureTag(digest));
  return out;
}

absl::StatusOr<Target> Resolve(const std::string& image, layers::Store* store,
                               const transfer::TransportOptions& options) {
  Target t;
  ASSIGN_OR_RETURN(t.image, transfer::ParseImageLocation(image));
  ASSIGN_OR_RETURN(oci::Reference ref, oci::Reference::Parse(t.image.name));
  t.repository = ref.Repository();
  ASSIGN_OR_RETURN(auto source, transfer::OpenImageSource(t.image, store, options));
  ASSIGN_OR_RETURN(oci::ManifestData top, source->GetManifest());
  t.digest = top.digest;
  if (ref.digest() && *ref.digest() != t.digest) {
    return absl::DataLossError(absl::StrCat(image, " resolved to ", t.digest.str()));
  }
  ASSIGN_OR_RETURN(t.signatures, SignatureLocation(t.image, t.digest));
  return t;
}

struct Existing {
  std::vector<SignatureLayer> layers;
  std::map<std::string, std::string> payloads;  // digest -> bytes
};

// The signatures already there (none when the signature tag does not exist).
absl::StatusOr<Existing> ReadSignatures(const Target& t, layers::Store* store,
                                        const transfer::TransportOptions& options) {
  Existing out;
  absl::StatusOr<std::unique_ptr<layers::ImageSource>> source =
      transfer::OpenImageSource(t.signatures, store, options);
  absl::StatusOr<oci::ManifestData> top =
      source.ok() ? (*source)->GetManifest() : absl::StatusOr<oci::ManifestData>(source.status());
  if (!top.ok()) {
    if (absl::IsNotFound(top.status())) return out;
    return Annotate(top.status(), absl::StrCat("reading ", t.signatures.String()));
  }
  ASSIGN_OR_RETURN_CTX(oci::Manifest m, oci::Manifest::Parse(top->bytes), t.signatures.String());
  ASSIGN_OR_RETURN_CTX(out.layers, SignatureLayers(m), t.signatures.String());
  for (const SignatureLayer& l : out.layers) {
    if (l.payload.size < 0 || static_cast<size_t>(l.payload.size) > kMaxPayloadSize) {
      return absl::InvalidArgumentError(
          absl::StrCat("payload ", l.payload.digest.str(), " is too large"));
    }
    ASSIGN_OR_RETURN(std::unique_ptr<Reader> r, (*source)->OpenBlob(l.payload));
    ASSIGN_OR_RETURN_CTX(out.payloads[l.payload.digest.str()], ReadAllFrom(*r, kMaxPayloadSize),
                         "payload ", l.payload.digest.str());
  }
  return out;
}

}  // namespace

absl::StatusOr<SignResult> SignImage(const std::string& image, const PrivateKey& key,
                                     const std::map<std::string, std::string>& annotations,
                                     layers::Store* store,
                                     const transfer::TransportOptions& options) {
  ASSIGN_OR_RETURN(Target t, Resolve(image, store, options));
  ASSIGN_OR_RETURN(Existing existing, ReadSignatures(t, store, options));
  if (existing.layers.size() >= kMaxSignaturesPerImage) {
    return absl::ResourceExhaustedError(absl::StrCat(image, " has too many signatures"));
  }
  SimpleSigning payload;
  payload.docker_reference = t.repository;
  payload.manifest_digest = t.digest;
  payload.optional = annotations;
  std::string bytes = EncodePayload(payload);
  SignatureLayer layer;
  layer.payload.media_type = kSimpleSigningMediaType;
  layer.payload.digest = oci::Digest::Of(bytes);
  layer.payload.size = static_cast<int64_t>(bytes.size());
  ASSIGN_OR_RETURN(layer.signature, key.Sign(bytes));
  std::vector<SignatureLayer> layers = existing.layers;
  layers.push_back(layer);
  std::map<std::string, std::string> blobs = std::move(existing.payloads);
  blobs[layer.payload.digest.str()] = bytes;
  SignatureManifest sm = MakeSignatureManifest(layers);
  blobs[sm.config_desc.digest.str()] = sm.config;
  ASSIGN_OR_RETURN(oci::ManifestData manifest, oci::ManifestData::FromBytes(sm.manifest));
  MemorySource source(manifest, std::move(blobs));
  ASSIGN_OR_RETURN_CTX(auto dest, transfer::OpenImageDestination(t.signatures, store, options),
                       "writing ", t.signatures.String());
  ASSIGN_OR_RETURN_CTX(oci::ManifestData written, layers::CopyImage(source, *dest, {}), "writing ",
                       t.signatures.String());
  return SignResult{t.digest, t.signatures.String(), written.digest};
}

absl::StatusOr<std::vector<SimpleSigning>> VerifiedSignatures(
    const transfer::ImageLocation& image, const oci::Digest& digest,
    const std::vector<PublicKey>& keys, layers::Store* store,
    const transfer::TransportOptions& options, std::vector<std::string>* rejected) {
  Target t;
  t.image = image;
  t.digest = digest;
  ASSIGN_OR_RETURN(t.signatures, SignatureLocation(image, digest));
  ASSIGN_OR_RETURN(Existing existing, ReadSignatures(t, store, options));
  std::vector<SimpleSigning> verified;
  for (const SignatureLayer& l : existing.layers) {
    const std::string& bytes = existing.payloads[l.payload.digest.str()];
    std::string who = l.payload.digest.Short();
    bool by_key = false;
    for (const PublicKey& key : keys) by_key = by_key || key.Verify(bytes, l.signature).ok();
    if (!by_key) {
      rejected->push_back(absl::StrCat(who, ": the signature does not verify with the key"));
      continue;
    }
    absl::StatusOr<SimpleSigning> payload = ParsePayload(bytes);
    if (!payload.ok()) {
      rejected->push_back(absl::StrCat(who, ": ", payload.status().message()));
    } else if (payload->manifest_digest != digest) {
      rejected->push_back(
          absl::StrCat(who, ": signs ", payload->manifest_digest.str(), ", not ", digest.str()));
    } else {
      verified.push_back(*std::move(payload));
    }
  }
  if (existing.layers.empty()) {
    rejected->push_back(absl::StrCat("no signatures at ", t.signatures.String()));
  }
  return verified;
}

absl::StatusOr<Verification> VerifyImage(const std::string& image, const PublicKey& key,
                                         layers::Store* store,
                                         const transfer::TransportOptions& options) {
  ASSIGN_OR_RETURN(Target t, Resolve(image, store, options));
  Verification v;
  v.image = t.digest;
  ASSIGN_OR_RETURN(v.verified,
                   VerifiedSignatures(t.image, t.digest, {key}, store, options, &v.rejected));
  if (v.verified.empty() && v.rejected.size() == 1 &&
      absl::StartsWith(v.rejected[0], "no signatures at ")) {
    return absl::NotFoundError(absl::StrCat("no signatures of ", image, " (", t.digest.str(),
                                            ") at ", t.signatures.String()));
  }
  if (v.verified.empty()) {
    return absl::PermissionDeniedError(absl::StrCat(
        "no signature of ", image, " verifies with the key: ", absl::StrJoin(v.rejected, "; ")));
  }
  return v;
}

absl::StatusOr<bool> CopySignatures(const transfer::ImageLocation& from,
                                    const transfer::ImageLocation& to, const oci::Digest& digest,
                                    layers::Store* store,
                                    const transfer::TransportOptions& options) {
  ASSIGN_OR_RETURN(transfer::ImageLocation src, SignatureLocation(from, digest));
  ASSIGN_OR_RETURN(transfer::ImageLocation dst, SignatureLocation(to, digest));
  absl::StatusOr<std::unique_ptr<layers::ImageSource>> source =
      transfer::OpenImageSource(src, store, options);
  absl::StatusOr<oci::ManifestData> top =
      source.ok() ? (*source)->GetManifest() : absl::StatusOr<oci::ManifestData>(source.status());
  if (!top.ok()) {
    if (absl::IsNotFound(top.status())) return false;
    return Annotate(top.status(), absl::StrCat("reading ", src.String()));
  }
  // Only what a signature manifest holds is copied (payloads, bounded).
  ASSIGN_OR_RETURN_CTX(oci::Manifest m, oci::Manifest::Parse(top->bytes), src.String());
  RETURN_IF_ERROR_CTX(SignatureLayers(m).status(), src.String());
  ASSIGN_OR_RETURN_CTX(auto dest, transfer::OpenImageDestination(dst, store, options), "writing ",
                       dst.String());
  RETURN_IF_ERROR_CTX(layers::CopyImage(**source, *dest, {}).status(), "copying ", src.String(),
                      " to ", dst.String());
  return true;
}

}  // namespace kiln::trust
