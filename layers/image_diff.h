// How two images (or two layers) differ: which config fields, which layers, and inside each
// differing layer which files and in what (added, removed, type, content, mode, owner, mtime,
// xattr, link target, device), with a short unified diff for text files. Layers are paired
// by position and compared by DiffID; only differing pairs are read. This is how a build that
// should be reproducible is shown not to be. Thread-compatible.
#ifndef KILN_LAYERS_IMAGE_DIFF_H_
#define KILN_LAYERS_IMAGE_DIFF_H_

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "base/io.h"
#include "layers/image_transfer.h"
#include "layers/layer_files.h"
#include "nlohmann/json.hpp"
#include "oci/descriptor.h"

namespace kiln::layers {

struct FileDifference {
  std::string path;                // absolute: "/etc/passwd"
  std::vector<std::string> kinds;  // in the order listed above
  std::optional<LayerEntry> a, b;  // absent on the side that lacks the file
  std::string diff;                // unified diff of a text file's content, else empty
};

struct LayerDifference {
  size_t index = 0;                     // 0-based position in the images
  std::optional<oci::Descriptor> a, b;  // absent when one image has fewer layers
  std::string a_diff_id, b_diff_id;
  bool same = false;
  std::vector<FileDifference> files;
};

struct ImageDifference {
  std::string a_name, b_name;
  std::string a_digest, b_digest;         // manifests
  std::string a_config, b_config;         // config digests
  std::vector<std::string> config_paths;  // JSON pointers where the configs differ
  std::vector<LayerDifference> layers;
  bool identical() const;
};

// The files of two layer listings that differ.
std::vector<FileDifference> DiffListings(const std::map<std::string, LayerEntry>& a,
                                         const std::map<std::string, LayerEntry>& b);

// Two layer blobs (any compression) read and compared.
absl::StatusOr<std::vector<FileDifference>> DiffLayers(Reader& a, Reader& b);

// Two loaded images, their differing layers read from their sources.
absl::StatusOr<ImageDifference> DiffImages(const std::string& a_name, ImageSource& a_source,
                                           const LoadedImage& a, const std::string& b_name,
                                           ImageSource& b_source, const LoadedImage& b);

// For people: one line per differing config field, layer and file, text diffs indented;
// ends with a summary line ("identical" or "N of M layers differ (K files)...").
std::string FormatFiles(const std::vector<FileDifference>& files, const std::string& indent);
std::string FormatImageDifference(const ImageDifference& d);
// The one-line summary alone.
std::string SummaryOf(const ImageDifference& d);

nlohmann::json FilesJson(const std::vector<FileDifference>& files);
nlohmann::json ImageDifferenceJson(const ImageDifference& d);

}  // namespace kiln::layers

#endif  // KILN_LAYERS_IMAGE_DIFF_H_
