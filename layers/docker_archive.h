// `docker save` tarballs (docker-archive): manifest.json listing each image's config file,
// RepoTags and layer tars. Reading synthesizes an OCI manifest over the files as they are
// (layer bytes unchanged, so uncompressed layers keep digest = DiffID); writing stores
// uncompressed layers named by DiffID, the format `docker load`, `podman load` and skopeo read.
#ifndef KILN_LAYERS_DOCKER_ARCHIVE_H_
#define KILN_LAYERS_DOCKER_ARCHIVE_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "layers/image_transfer.h"

namespace kiln::layers {

// Opens `file`; `ref` picks an image by one of its RepoTags, or "@N" by position; empty means
// the archive's only image.
absl::StatusOr<std::unique_ptr<ImageSource>> OpenDockerArchiveSource(const std::string& file,
                                                                     const std::string& ref);

// Writes `file` on Commit, tagging the image `ref` (Docker's short form) when not empty.
absl::StatusOr<std::unique_ptr<ImageDestination>> OpenDockerArchiveDestination(
    const std::string& file, const std::string& ref);

}  // namespace kiln::layers

#endif  // KILN_LAYERS_DOCKER_ARCHIVE_H_
