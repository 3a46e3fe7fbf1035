// Signing and verifying images where they live: a registry (`docker://REF`) or the store (a
// name). Signatures are cosign's (trust/simple_signing.h): a signature manifest under the tag
// "sha256-<hex>.sig" of the image's repository, in the same place as the image (the store
// keeps it as the name "<repository>:sha256-<hex>.sig").
#ifndef KILN_TRUST_SIGNATURES_H_
#define KILN_TRUST_SIGNATURES_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "layers/store.h"
#include "oci/digest.h"
#include "transfer/transports.h"
#include "trust/keys.h"
#include "trust/simple_signing.h"

namespace kiln::trust {

struct SignResult {
  oci::Digest image;               // what was signed
  std::string signature_location;  // where the signature manifest went
  oci::Digest signature_manifest;
  std::string referrer;  // registry images: how the OCI 1.1 referrer was attached
};

// Adds a signature of `image` by `key` (with `annotations` as the payload's optional part)
// to the image's signature manifest, keeping the signatures already there. A registry image
// also gets it as an OCI 1.1 referrer (artifactType kCosignSignatureArtifactType, subject the
// image): by the referrers API where the registry has one, else by the referrers tag schema.
absl::StatusOr<SignResult> SignImage(const std::string& image, const PrivateKey& key,
                                     const std::map<std::string, std::string>& annotations,
                                     layers::Store* store,
                                     const transfer::TransportOptions& options);

// With `kiln sign --attestations`: a signature of each attestation manifest of the image's
// index (BuildKit's layout, trust/attestations.h), each beside it as for an image. None when
// the image has no attestations.
absl::StatusOr<std::vector<SignResult>> SignAttestations(
    const std::string& image, const PrivateKey& key,
    const std::map<std::string, std::string>& annotations, layers::Store* store,
    const transfer::TransportOptions& options);

struct Verification {
  oci::Digest image;
  std::vector<SimpleSigning> verified;  // the payloads whose signatures the key verifies
  std::vector<std::string> rejected;    // why each other signature was refused
};

// Checks every signature of `image` against `key`: a signature counts when it verifies over
// its payload's bytes and the payload names the image's digest (as cosign checks; the
// payload's docker-reference, kept when signatures are copied elsewhere, is for a policy's
// signedIdentity to judge). NotFound when the image has no signature; PermissionDenied
// (listing why) when none verifies.
absl::StatusOr<Verification> VerifyImage(const std::string& image, const PublicKey& key,
                                         layers::Store* store,
                                         const transfer::TransportOptions& options);

// The payloads of the signatures of `digest` beside `image` (a registry or store location; in
// a registry, its referrers too) that one of `keys` verifies and that name `digest`; why each other
// one failed is added to `rejected` (and that there are none, when there is no signature manifest).
absl::StatusOr<std::vector<SimpleSigning>> VerifiedSignatures(
    const transfer::ImageLocation& image, const oci::Digest& digest,
    const std::vector<PublicKey>& keys, layers::Store* store,
    const transfer::TransportOptions& options, std::vector<std::string>* rejected);

// Copies the signature manifest of the image `digest` from beside `from` to beside `to` (each
// a registry or store location of the image), as `copy`/`push`/`pull --signatures` carry
// signatures with images. False when the image has none.
absl::StatusOr<bool> CopySignatures(const transfer::ImageLocation& from,
                                    const transfer::ImageLocation& to, const oci::Digest& digest,
                                    layers::Store* store,
                                    const transfer::TransportOptions& options);

}  // namespace kiln::trust

#endif  // KILN_TRUST_SIGNATURES_H_
