#include "builder/files_output.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "base/file_util.h"
#include "base/io.h"
#include "base/status_macros.h"
#include "base/unique_fd.h"
#include "layers/extract.h"
#include "layers/tar_writer.h"

namespace kiln::builder {
namespace {

std::string ParentOf(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

absl::Status Errno(const std::string& what) {
  return absl::InternalError(absl::StrCat(what, ": ", std::strerror(errno)));
}

}  // namespace

absl::Status CheckFilesOutput(const FilesOutput& out) {
  const std::string what =
      absl::StrCat("--output type=", out.tar ? "tar" : "local", ",dest=", out.dest);
  if (out.dest.empty() || out.dest == "-") {
    return absl::InvalidArgumentError(absl::StrCat(what, ": give a path"));
  }
  struct stat st;
  std::string parent = ParentOf(out.dest);
  if (::stat(parent.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": directory \"", parent, "\" does not exist"));
  }
  if (out.tar || ::lstat(out.dest.c_str(), &st) != 0) return absl::OkStatus();
  absl::StatusOr<std::vector<std::string>> names = ListDir(out.dest);
  if (!S_ISDIR(st.st_mode) || !names.ok() || !names->empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": it exists and is not an empty directory"));
  }
  return absl::OkStatus();
}

absl::Status WriteFilesOutput(const layers::BlobStore& blobs, const ImageState& state,
                              const FilesOutput& out, std::optional<int64_t> source_date_epoch) {
  return WriteFilesOutput(blobs, {{"", state}}, out, source_date_epoch);
}

absl::Status WriteFilesOutput(const layers::BlobStore& blobs,
                              const std::vector<std::pair<std::string, ImageState>>& images,
                              const FilesOutput& out, std::optional<int64_t> source_date_epoch) {
  RETURN_IF_ERROR(CheckFilesOutput(out));
  ASSIGN_OR_RETURN(TempDir tmp, TempDir::Create(ParentOf(out.dest) + "/.kiln-output-"));
  const std::string rootfs = tmp.path() + "/rootfs";
  RETURN_IF_ERROR(MakeDirs(rootfs, 0755));
  for (const auto& [dir, state] : images) {
    const std::string at = dir.empty() ? rootfs : rootfs + "/" + dir;
    RETURN_IF_ERROR(MakeDirs(at, 0755));
    for (const oci::Descriptor& layer : state.layers) {
      ASSIGN_OR_RETURN(auto blob, blobs.Open(layer.digest, layer.size));
      layers::ExtractOptions options;
      options.devices = layers::DevicePolicy::kSkip;
      RETURN_IF_ERROR_CTX(layers::ExtractLayer(*blob, at, options).status(), "layer ",
                          layer.digest.str());
    }
  }
  if (!out.tar) {
    if (::rmdir(out.dest.c_str()) != 0 && errno != ENOENT) return Errno("removing " + out.dest);
    if (::rename(rootfs.c_str(), out.dest.c_str()) != 0) return Errno("renaming to " + out.dest);
    return absl::OkStatus();
  }
  const std::string file = tmp.path() + "/files.tar";
  UniqueFd fd(::open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
  if (fd.get() < 0) return Errno("creating " + file);
  FdWriter writer(fd.get());
  layers::TarOptions options;
  options.source_date_epoch = source_date_epoch;
  RETURN_IF_ERROR(layers::WriteLayerTar(rootfs, options, &writer));
  if (::fsync(fd.get()) != 0) return Errno("syncing " + file);
  if (::rename(file.c_str(), out.dest.c_str()) != 0) return Errno("renaming to " + out.dest);
  return absl::OkStatus();
}

}  // namespace kiln::builder
