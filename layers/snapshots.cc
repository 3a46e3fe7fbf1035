#include "layers/snapshots.h"

#include <unistd.h>

#include <cstdio>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "base/file_util.h"
#include "base/id_map.h"
#include "base/status_macros.h"
#include "layers/compression.h"
#include "layers/extract.h"
#include "oci/hashing.h"

namespace kiln::layers {

absl::StatusOr<std::string> Snapshots::Get(const BlobStore& blobs, const oci::Descriptor& layer,
                                           const oci::Digest& diff_id) const {
  std::string path = PathOf(diff_id);
  if (PathExists(path)) return path;
  RETURN_IF_ERROR(MakeDirs(dir_, 0700));
  ASSIGN_OR_RETURN(TempDir tmp, TempDir::Create(absl::StrCat(dir_, "/.tmp-")));
  std::string target = tmp.path() + "/rootfs";
  RETURN_IF_ERROR(MakeDirs(target));
  ASSIGN_OR_RETURN(auto blob, blobs.Open(layer.digest, layer.size));
  ASSIGN_OR_RETURN(auto plain, NewDecompressor(std::move(blob)));
  oci::HashingReader tar(std::move(plain));  // the uncompressed tar: its DiffID
  ExtractOptions options;
  options.whiteouts = WhiteoutMode::kOverlay;
  // Device nodes need real root; a rootless snapshot goes without them, as a step's /dev is
  // made fresh anyway.
  options.devices =
      ::geteuid() == 0 && InInitialUserNamespace() ? DevicePolicy::kCreate : DevicePolicy::kSkip;
  RETURN_IF_ERROR_CTX(ExtractLayer(tar, target, options).status(), "unpacking layer ",
                      layer.digest.Short());
  oci::Digest got = tar.Finish();
  if (got != diff_id) {
    return absl::DataLossError(absl::StrCat("layer ", layer.digest.str(), " uncompresses to ",
                                            got.str(), ", but the image says its DiffID is ",
                                            diff_id.str()));
  }
  if (::rename(target.c_str(), path.c_str()) != 0 && !PathExists(path)) {
    return ErrnoError(absl::StrCat("publish snapshot ", path));
  }
  return path;
}

absl::Status Snapshots::Adopt(const std::string& tree, const oci::Digest& diff_id) const {
  std::string path = PathOf(diff_id);
  if (PathExists(path)) return absl::OkStatus();
  RETURN_IF_ERROR(MakeDirs(dir_, 0700));
  if (::rename(tree.c_str(), path.c_str()) != 0 && !PathExists(path)) {
    return ErrnoError(absl::StrCat("keep snapshot ", path));
  }
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> Snapshots::Prune(const absl::flat_hash_set<std::string>& wanted) const {
  ASSIGN_OR_RETURN(std::vector<std::string> names, ListDir(dir_));
  uint64_t removed = 0;
  for (const std::string& name : names) {
    if (wanted.contains(name)) continue;
    RETURN_IF_ERROR(RemoveAll(absl::StrCat(dir_, "/", name)));
    if (!absl::StartsWith(name, ".tmp-")) ++removed;
  }
  return removed;
}

}  // namespace kiln::layers
