// BuildKit's file exports of a build's result: `--output type=local,dest=DIR` (the image's
// files in DIR) and `type=tar,dest=FILE` (a tar of them, written as layers are: sorted,
// numeric owners, mtimes clamped to the source date). Either appears whole or not at all:
// the files are unpacked next to the destination and renamed into place.
#ifndef KILN_BUILDER_FILES_OUTPUT_H_
#define KILN_BUILDER_FILES_OUTPUT_H_

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "builder/stage_run.h"
#include "layers/blob_store.h"

namespace kiln::builder {

struct FilesOutput {
  bool tar = false;  // type=tar: a tar file; else type=local: a directory
  std::string dest;
};

// Checks what can be checked before a build: the destination's directory exists, and a
// local destination is absent or an empty directory (it is replaced, never merged into).
absl::Status CheckFilesOutput(const FilesOutput& out);

// Writes the files of `state` (its layers, all in `blobs`) to `out.dest`.
absl::Status WriteFilesOutput(const layers::BlobStore& blobs, const ImageState& state,
                              const FilesOutput& out, std::optional<int64_t> source_date_epoch);
// The same for several images, each in a directory of its own (a multi-platform build's:
// "linux_amd64", "linux_arm_v7", as BuildKit names them).
absl::Status WriteFilesOutput(const layers::BlobStore& blobs,
                              const std::vector<std::pair<std::string, ImageState>>& images,
                              const FilesOutput& out, std::optional<int64_t> source_date_epoch);

}  // namespace kiln::builder

#endif  // KILN_BUILDER_FILES_OUTPUT_H_
