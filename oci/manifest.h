// Image manifests (OCI and Docker v2 schema 2) and indexes (OCI index, Docker manifest list).
// Parsing validates structure and every descriptor; Serialize() writes kiln's canonical form.
// Bytes received from elsewhere are stored as received; only manifests kiln makes are serialized.
#ifndef KILN_OCI_MANIFEST_H_
#define KILN_OCI_MANIFEST_H_

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "oci/descriptor.h"
#include "oci/media_types.h"

namespace kiln::oci {

// What a manifest document is, from its mediaType field or, where absent, its shape. Schema 1
// manifests are rejected with a message saying so; anything else unknown is InvalidArgument.
absl::StatusOr<std::string> DetectManifestMediaType(absl::string_view bytes);

bool IsIndexMediaType(absl::string_view media_type);
bool IsManifestMediaType(absl::string_view media_type);
// Layer media types kiln can unpack (tar, gzip, zstd; OCI and Docker names).
bool IsLayerMediaType(absl::string_view media_type);

struct Manifest {
  std::string media_type = kOciManifest;
  std::string artifact_type;
  Descriptor config;
  std::vector<Descriptor> layers;
  std::optional<Descriptor> subject;
  std::map<std::string, std::string> annotations;

  static absl::StatusOr<Manifest> Parse(absl::string_view bytes);
  std::string Serialize() const;
};

struct Index {
  std::string media_type;
  std::vector<Descriptor> manifests;
  std::map<std::string, std::string> annotations;

  static absl::StatusOr<Index> Parse(absl::string_view bytes);
  std::string Serialize() const;
};

// A manifest or index with its exact bytes.
struct ManifestData {
  std::string bytes;
  std::string media_type;
  Digest digest;
  Descriptor ToDescriptor() const;
  // Computes digest and checks/derives the media type from `bytes`.
  static absl::StatusOr<ManifestData> FromBytes(std::string bytes);
};

}  // namespace kiln::oci

#endif  // KILN_OCI_MANIFEST_H_
