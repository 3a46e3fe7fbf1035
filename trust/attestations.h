// Attestations attached to an image as BuildKit attaches them: in-toto statements
// (https://in-toto.io/Statement/v1) about the image manifest, as the layers (media type
// application/vnd.in-toto+json, annotation in-toto.io/predicate-type) of an attestation
// manifest, which sits beside the image in an OCI index with platform unknown/unknown and the
// annotations vnd.docker.reference.type=attestation-manifest and vnd.docker.reference.digest.
#ifndef KILN_TRUST_ATTESTATIONS_H_
#define KILN_TRUST_ATTESTATIONS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "layers/blob_store.h"
#include "nlohmann/json.hpp"
#include "oci/descriptor.h"
#include "oci/platform.h"

namespace kiln::trust {

inline constexpr char kInTotoMediaType[] = "application/vnd.in-toto+json";
inline constexpr char kSpdxPredicate[] = "https://spdx.dev/Document";
inline constexpr char kSlsaProvenancePredicate[] = "https://slsa.dev/provenance/v1";

struct Statement {
  std::string predicate_type;
  nlohmann::ordered_json predicate;
};

// The statement's bytes: its subject the image manifest, named "pkg:docker/NAME?platform=…".
std::string InTotoStatement(const Statement& s, const std::string& image_name,
                            const oci::Descriptor& image, const oci::Platform& platform);

// Writes the statements and their attestation manifest into `blobs`; returns the manifest's
// descriptor as an index lists it (platform unknown/unknown, the reference annotations).
absl::StatusOr<oci::Descriptor> AttestationManifest(const layers::BlobStore& blobs,
                                                    const std::string& image_name,
                                                    const oci::Descriptor& image,
                                                    const oci::Platform& platform,
                                                    const std::vector<Statement>& statements);

// Writes the statements, the attestation manifest and the index into `blobs`; returns the
// index's descriptor (the image's new root).
absl::StatusOr<oci::Descriptor> AttachAttestations(const layers::BlobStore& blobs,
                                                   const std::string& image_name,
                                                   const oci::Descriptor& image,
                                                   const oci::Platform& platform,
                                                   const std::vector<Statement>& statements);

}  // namespace kiln::trust

#endif  // KILN_TRUST_ATTESTATIONS_H_
