// Where an image lives, in skopeo's transport syntax: `oci:PATH[:NAME]`,
// `oci-archive:FILE[:NAME]`, `docker-archive:FILE[:REF]`; a bare name ("app:1") is the local
// store. The path ends at the first ':' after the transport, as in skopeo.
#ifndef KILN_TRANSFER_IMAGE_LOCATION_H_
#define KILN_TRANSFER_IMAGE_LOCATION_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace kiln::transfer {

enum class Transport { kStore, kOciLayout, kOciArchive, kDockerArchive, kRegistry };

struct ImageLocation {
  Transport transport = Transport::kStore;
  std::string path;  // layout directory or archive file; empty for the store
  std::string name;  // tag / reference inside it; the image name (store) or reference (registry)
  std::string String() const;
};

absl::StatusOr<ImageLocation> ParseImageLocation(absl::string_view text);

}  // namespace kiln::transfer

#endif  // KILN_TRANSFER_IMAGE_LOCATION_H_
