// Tar files that carry whole images (oci-archive, docker-archive): unpacking one safely into a
// directory and packing a directory into one atomically. Stateless, thread-safe.
#ifndef KILN_LAYERS_ARCHIVE_FILE_H_
#define KILN_LAYERS_ARCHIVE_FILE_H_

#include <string>

#include "absl/status/status.h"

namespace kiln::layers {

// Extracts `file` (any compression) into existing directory `dir`, as ExtractLayer does but
// with ".wh." names taken literally, no device nodes and no ownership changes.
absl::Status UnpackArchiveFile(const std::string& file, const std::string& dir);

// Writes the tar of everything below `dir` to `file`: a temporary file beside it, fsynced and
// renamed, so `file` is either the old content or complete.
absl::Status PackArchiveFile(const std::string& dir, const std::string& file);

// A directory for temporary work: $TMPDIR, else /var/tmp.
std::string TempRoot();

}  // namespace kiln::layers

#endif  // KILN_LAYERS_ARCHIVE_FILE_H_
