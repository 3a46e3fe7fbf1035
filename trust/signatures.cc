#include "trust/signatures.h"

#include <algorithm>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/io.h"
#include "base/status_macros.h"
#include "oci/media_types.h"
#include "oci/reference.h"
#include "registry/client.h"
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
  oci::Descriptor descriptor;  // the image's top manifest, a referrer's subject
};

constexpr char kEmptyMediaType[] = "application/vnd.oci.empty.v1+json";
constexpr size_t kMaxReferrers = 100;

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
  t.descriptor = top.ToDescriptor();
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

// The registry and repository of a registry target.
absl::StatusOr<std::pair<std::shared_ptr<registry::Registry>, std::string>> RegistryOf(
    const Target& t, const transfer::TransportOptions& options) {
  ASSIGN_OR_RETURN(oci::Reference ref, oci::Reference::Parse(t.image.name));
  ASSIGN_OR_RETURN(std::shared_ptr<registry::Registry> reg,
                   registry::Registry::Connect(ref.domain(), options.registry));
  return std::make_pair(std::move(reg), ref.path());
}

absl::Status PushBlobIfMissing(registry::Registry& reg, const std::string& repo,
                               const oci::Descriptor& d, const std::string& bytes) {
  ASSIGN_OR_RETURN(bool has, reg.HasBlob(repo, d));
  if (has) return absl::OkStatus();
  return reg.PushBlob(repo, d, [&]() -> absl::StatusOr<std::unique_ptr<Reader>> {
    return std::make_unique<StringReader>(bytes);
  });
}

// Attaches the signature `layer` to the image as an OCI 1.1 artifact (artifactType cosign's,
// subject the image): the referrers API indexes it where the registry has one (it answers
// OCI-Subject); else it joins the index under the referrers tag schema's "sha256-<hex>" tag.
// Returns how it was attached.
absl::StatusOr<std::string> AttachReferrer(const Target& t, const SignatureLayer& layer,
                                           const std::string& payload,
                                           const transfer::TransportOptions& options) {
  ASSIGN_OR_RETURN(auto at, RegistryOf(t, options));
  auto& [reg, repo] = at;
  const std::string empty = "{}";
  oci::Manifest m;
  m.artifact_type = kCosignSignatureArtifactType;
  m.config.media_type = kEmptyMediaType;
  m.config.digest = oci::Digest::Of(empty);
  m.config.size = 2;
  oci::Descriptor d = layer.payload;
  d.annotations[kSignatureAnnotation] = absl::Base64Escape(layer.signature);
  m.layers = {d};
  oci::Descriptor subject;
  subject.media_type = t.descriptor.media_type;
  subject.digest = t.descriptor.digest;
  subject.size = t.descriptor.size;
  m.subject = subject;
  RETURN_IF_ERROR(PushBlobIfMissing(*reg, repo, m.config, empty));
  RETURN_IF_ERROR(PushBlobIfMissing(*reg, repo, layer.payload, payload));
  ASSIGN_OR_RETURN(oci::ManifestData md, oci::ManifestData::FromBytes(m.Serialize()));
  bool indexed = false;
  RETURN_IF_ERROR(reg->PutManifest(repo, md.digest.str(), md, &indexed));
  if (indexed) return std::string("the referrers API");
  // The fallback: the index under the tag "sha256-<hex>" lists the image's referrers.
  const std::string tag = absl::StrCat("sha256-", t.digest.hex());
  oci::Index index;
  index.media_type = oci::kOciIndex;
  if (absl::StatusOr<oci::ManifestData> old = reg->GetManifest(repo, tag); old.ok()) {
    ASSIGN_OR_RETURN_CTX(index, oci::Index::Parse(old->bytes), "referrers tag ", tag);
  } else if (!absl::IsNotFound(old.status())) {
    return old.status();
  }
  oci::Descriptor entry = md.ToDescriptor();
  entry.artifact_type = kCosignSignatureArtifactType;
  std::erase_if(index.manifests,
                [&](const oci::Descriptor& e) { return e.digest == entry.digest; });
  index.manifests.push_back(entry);
  ASSIGN_OR_RETURN(oci::ManifestData im, oci::ManifestData::FromBytes(index.Serialize()));
  RETURN_IF_ERROR(reg->PutManifest(repo, tag, im));
  return absl::StrCat("the referrers tag ", tag);
}

// Adds the signatures attached to a registry image as OCI 1.1 referrers (by the referrers
// API, else the referrers tag) to `out`, skipping those it holds already.
absl::Status ReadReferrerSignatures(const Target& t, const transfer::TransportOptions& options,
                                    Existing* out) {
  ASSIGN_OR_RETURN(auto at, RegistryOf(t, options));
  auto& [reg, repo] = at;
  ASSIGN_OR_RETURN(std::optional<oci::Index> index,
                   reg->Referrers(repo, t.digest, kCosignSignatureArtifactType));
  if (!index) {
    absl::StatusOr<oci::ManifestData> tagged =
        reg->GetManifest(repo, absl::StrCat("sha256-", t.digest.hex()));
    if (absl::IsNotFound(tagged.status())) return absl::OkStatus();
    if (!tagged.ok()) return tagged.status();
    absl::StatusOr<oci::Index> parsed = oci::Index::Parse(tagged->bytes);
    if (!parsed.ok()) return absl::OkStatus();  // not a referrers index: nothing attached
    index = *std::move(parsed);
  }
  size_t seen = 0;
  for (const oci::Descriptor& d : index->manifests) {
    if (d.artifact_type != kCosignSignatureArtifactType) continue;
    if (++seen > kMaxReferrers) break;
    ASSIGN_OR_RETURN(oci::ManifestData md, reg->GetManifest(repo, d.digest.str()));
    absl::StatusOr<oci::Manifest> m = oci::Manifest::Parse(md.bytes);
    if (!m.ok() || !m->subject || m->subject->digest != t.digest) continue;
    absl::StatusOr<std::vector<SignatureLayer>> layers = SignatureLayers(*m);
    if (!layers.ok()) continue;
    for (SignatureLayer& l : *layers) {
      bool known = std::any_of(out->layers.begin(), out->layers.end(), [&](const auto& k) {
        return k.payload.digest == l.payload.digest && k.signature == l.signature;
      });
      if (known) continue;
      if (l.payload.size < 0 || static_cast<size_t>(l.payload.size) > kMaxPayloadSize) continue;
      ASSIGN_OR_RETURN(std::unique_ptr<Reader> r, reg->OpenBlob(repo, l.payload));
      ASSIGN_OR_RETURN(out->payloads[l.payload.digest.str()], ReadAllFrom(*r, kMaxPayloadSize));
      out->layers.push_back(std::move(l));
    }
  }
  return absl::OkStatus();
}

}  // namespace

namespace {

absl::StatusOr<SignResult> SignTarget(const Target& t, const PrivateKey& key,
                                      const std::map<std::string, std::string>& annotations,
                                      layers::Store* store,
                                      const transfer::TransportOptions& options) {
  const std::string image = t.image.String();
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
  SignResult result{t.digest, t.signatures.String(), written.digest, ""};
  if (t.image.transport == transfer::Transport::kRegistry) {
    ASSIGN_OR_RETURN_CTX(result.referrer, AttachReferrer(t, layer, bytes, options),
                         "attaching the signature to ", image, " as a referrer");
  }
  return result;
}

}  // namespace

absl::StatusOr<SignResult> SignImage(const std::string& image, const PrivateKey& key,
                                     const std::map<std::string, std::string>& annotations,
                                     layers::Store* store,
                                     const transfer::TransportOptions& options) {
  ASSIGN_OR_RETURN(Target t, Resolve(image, store, options));
  return SignTarget(t, key, annotations, store, options);
}

absl::StatusOr<std::vector<SignResult>> SignAttestations(
    const std::string& image, const PrivateKey& key,
    const std::map<std::string, std::string>& annotations, layers::Store* store,
    const transfer::TransportOptions& options) {
  ASSIGN_OR_RETURN(Target t, Resolve(image, store, options));
  std::vector<SignResult> out;
  if (t.descriptor.media_type != oci::kOciIndex &&
      t.descriptor.media_type != oci::kDockerManifestList) {
    return out;
  }
  ASSIGN_OR_RETURN(auto source, transfer::OpenImageSource(t.image, store, options));
  ASSIGN_OR_RETURN(oci::ManifestData top, source->GetManifest());
  ASSIGN_OR_RETURN(oci::Index index, oci::Index::Parse(top.bytes));
  for (const oci::Descriptor& d : index.manifests) {
    auto type = d.annotations.find("vnd.docker.reference.type");
    if (type == d.annotations.end() || type->second != "attestation-manifest") continue;
    Target a;
    a.image = t.image;
    a.image.name = absl::StrCat(t.repository, "@", d.digest.str());
    a.repository = t.repository;
    a.digest = d.digest;
    a.descriptor.media_type = d.media_type;
    a.descriptor.digest = d.digest;
    a.descriptor.size = d.size;
    ASSIGN_OR_RETURN(a.signatures, SignatureLocation(a.image, d.digest));
    ASSIGN_OR_RETURN(SignResult r, SignTarget(a, key, annotations, store, options));
    out.push_back(std::move(r));
  }
  return out;
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
  if (image.transport == transfer::Transport::kRegistry) {
    RETURN_IF_ERROR_CTX(ReadReferrerSignatures(t, options, &existing), "referrers of ",
                        image.String());
  }
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
