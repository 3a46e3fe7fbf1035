// `docker save` tarballs (docker-archive): manifest.json listing each image's config file,
// RepoTags and layer tars. Reading takes an image's manifest from the archive's OCI view
// (index.json and blobs/, as Docker 25 and kiln write them) when it has one, exact bytes and
// all, else synthesizes one over the files as they are (layer bytes unchanged, so
// uncompressed layers keep digest = DiffID). Writing stores every blob as it comes (layers
// compressed as they are) at blobs/sha256/<hex> with manifest.json over them and the image's
// own manifest in index.json: `docker load`, `podman load` and skopeo read it, and it loads
// back to the same image (same digest, same size).
#ifndef KILN_LAYERS_DOCKER_ARCHIVE_H_
#define KILN_LAYERS_DOCKER_ARCHIVE_H_

#include <memory>
#include <string>
#include <vector>

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

// Several images into one docker-archive (docker save IMAGE...): each Add copies an image with
// its RepoTags (one entry per image, its names merged), Finish writes `file` atomically.
class DockerArchiveWriter {
 public:
  static absl::StatusOr<std::unique_ptr<DockerArchiveWriter>> Open(const std::string& file);
  ~DockerArchiveWriter();
  absl::Status Add(ImageSource& src, const std::vector<std::string>& tags,
                   const CopyOptions& options);
  absl::Status Finish();

 private:
  class Impl;
  explicit DockerArchiveWriter(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// A docker-archive unpacked once: every image's RepoTags (manifest.json's order) and a source
// for each (docker load of several images).
class DockerArchive {
 public:
  static absl::StatusOr<std::unique_ptr<DockerArchive>> Open(const std::string& file);
  ~DockerArchive();
  const std::vector<std::vector<std::string>>& tags() const;
  // The image `ref` names: one of its RepoTags, "@N", or (empty) the archive's only one.
  absl::StatusOr<size_t> Pick(const std::string& ref) const;
  absl::StatusOr<std::unique_ptr<ImageSource>> Image(size_t i) const;

 private:
  struct Impl;
  explicit DockerArchive(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The RepoTags of each image in a docker-archive, in manifest.json's order.
absl::StatusOr<std::vector<std::vector<std::string>>> DockerArchiveTags(const std::string& file);

}  // namespace kiln::layers

#endif  // KILN_LAYERS_DOCKER_ARCHIVE_H_
