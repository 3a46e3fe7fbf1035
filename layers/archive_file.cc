#include "layers/archive_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "base/file_util.h"
#include "base/io.h"
#include "base/status_macros.h"
#include "base/unique_fd.h"
#include "layers/extract.h"
#include "layers/tar_writer.h"

namespace kiln::layers {

std::string TempRoot() {
  const char* tmp = std::getenv("TMPDIR");
  return tmp != nullptr && tmp[0] == '/' ? tmp : "/var/tmp";
}

absl::Status UnpackArchiveFile(const std::string& file, const std::string& dir) {
  UniqueFd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return ErrnoError(absl::StrCat("open ", file));
  FdReader reader(fd.get());
  ExtractOptions options;
  options.whiteouts = WhiteoutMode::kLiteral;
  options.devices = DevicePolicy::kReject;
  options.preserve_owner = false;
  RETURN_IF_ERROR_CTX(ExtractLayer(reader, dir, options).status(), "reading archive ", file);
  return absl::OkStatus();
}

absl::Status PackArchiveFile(const std::string& dir, const std::string& file) {
  std::string tmp = absl::StrCat(file, ".tmp-XXXXXX");
  UniqueFd fd(::mkostemp(tmp.data(), O_CLOEXEC));
  if (!fd.valid()) return ErrnoError(absl::StrCat("create ", tmp));
  FdWriter writer(fd.get());
  absl::Status s = WriteLayerTar(dir, TarOptions{}, &writer);
  if (s.ok() && ::fchmod(fd.get(), 0644) != 0) s = ErrnoError("chmod");
  if (s.ok() && ::fsync(fd.get()) != 0) s = ErrnoError("fsync");
  if (s.ok() && ::rename(tmp.c_str(), file.c_str()) != 0) s = ErrnoError("rename");
  if (!s.ok()) {
    ::unlink(tmp.c_str());
    return Annotate(s, absl::StrCat("writing ", file));
  }
  return FsyncDir(Dirname(file));
}

}  // namespace kiln::layers
