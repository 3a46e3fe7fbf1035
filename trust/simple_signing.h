// cosign's signature format (its specs/SIGNATURE_SPEC.md): a "simple signing" payload per
// signature, {"critical": {"identity": {"docker-reference": REPO}, "image":
// {"docker-manifest-digest": DIGEST}, "type": "cosign container image signature"},
// "optional": {...} | null}, stored as a layer of media type kSimpleSigningMediaType whose
// kSignatureAnnotation holds the base64 DER signature of the payload's bytes; the layers of one
// image manifest under the tag "sha256-<hex>.sig" of the signed image's repository (each new
// signature appends a layer). Payloads and signature manifests are untrusted input: capped and
// checked field by field.
#ifndef KILN_TRUST_SIMPLE_SIGNING_H_
#define KILN_TRUST_SIMPLE_SIGNING_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "oci/descriptor.h"
#include "oci/digest.h"
#include "oci/manifest.h"

namespace kiln::trust {

inline constexpr char kSimpleSigningMediaType[] =
    "application/vnd.dev.cosign.simplesigning.v1+json";
inline constexpr char kSignatureAnnotation[] = "dev.cosignproject.cosign/signature";
inline constexpr char kSimpleSigningType[] = "cosign container image signature";
// The artifactType of a signature attached as an OCI 1.1 referrer, as cosign's.
inline constexpr char kCosignSignatureArtifactType[] =
    "application/vnd.dev.cosign.artifact.sig.v1+json";
inline constexpr size_t kMaxPayloadSize = 1 << 20;
inline constexpr size_t kMaxSignaturesPerImage = 1000;

struct SimpleSigning {
  std::string docker_reference;  // the repository, "registry.example/team/app"
  oci::Digest manifest_digest;
  std::map<std::string, std::string> optional;  // -a KEY=VALUE annotations; none: null
};

// The payload's bytes as cosign writes them (compact JSON, keys in its order).
std::string EncodePayload(const SimpleSigning& s);
absl::StatusOr<SimpleSigning> ParsePayload(absl::string_view bytes);

// "sha256-<hex>.sig": the tag of `digest`'s signatures.
std::string SignatureTag(const oci::Digest& digest);

// One signature of a signature manifest: the payload's descriptor and the signature.
struct SignatureLayer {
  oci::Descriptor payload;
  std::string signature;  // DER, decoded from the annotation
};

// The signature layers of a signature manifest (an error for one that is not: no layers of
// the simple signing type, bad base64, too many).
absl::StatusOr<std::vector<SignatureLayer>> SignatureLayers(const oci::Manifest& manifest);

// A signature manifest holding `layers` (payload descriptors with their annotations set) and
// its config (cosign's: an image config whose DiffIDs are the payloads' digests).
struct SignatureManifest {
  std::string manifest;  // bytes
  std::string config;    // bytes
  oci::Descriptor config_desc;
};
SignatureManifest MakeSignatureManifest(const std::vector<SignatureLayer>& layers);

}  // namespace kiln::trust

#endif  // KILN_TRUST_SIMPLE_SIGNING_H_
