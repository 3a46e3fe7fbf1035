// What a RUN step leaves behind that differs from one run to the next although its inputs are
// the same, made the same: a fixed list of files that programs rebuild on demand (binary
// caches) or only append to (logs), each with the one change that removes the difference and
// keeps what programs read at run time. Applied to the step's upper directory (overlayfs
// format) before it becomes the layer:
//   - apt's binary caches (pkgcache.bin, srcpkgcache.bin) and ldconfig's aux-cache: dropped
//     (a whiteout where the image below has the file); apt and ldconfig rebuild them.
//   - dpkg's, update-alternatives' and apt's text logs: the lines the step added keep their
//     text, with each date and time in them replaced by the source date.
//   - pip's cache directory of root (~/.cache/pip): dropped.
//   - apk's installed-scripts archive (lib/apk/db/scripts.tar): its members' modification
//     times are clamped to the source date; names, modes, owners and bytes are kept.
// Each path is first resolved in the image as the step leaves it (symlinks in its directories
// followed inside the root: /lib/apk is /usr/lib/apk in a merged-/usr image). Only files the
// step itself wrote (in the upper directory as regular files or, for pip's cache, a directory)
// are touched; a path whose directories are not plain directories in the upper directory is
// left alone, and no symlink is followed there. Thread-safe.
#ifndef KILN_BUILDER_NORMALIZE_H_
#define KILN_BUILDER_NORMALIZE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace kiln::builder {

struct Normalized {
  std::string path;  // absolute, in the image
  std::string what;  // "dropped", "log times", "archive times"
};

// Normalizes the step's upper directory `upper` over the image below it (`lower_dirs`, its
// snapshot directories, topmost first), dates becoming `source_date_epoch` (seconds). Returns
// what it changed (paths as resolved), in the order of the list above.
absl::StatusOr<std::vector<Normalized>> NormalizeRunDiff(const std::string& upper,
                                                         const std::vector<std::string>& lower_dirs,
                                                         int64_t source_date_epoch);

// "normalized 2 files: /var/cache/apt/pkgcache.bin (dropped), /var/log/dpkg.log (log times)";
// empty when nothing was.
std::string NormalizedSummary(const std::vector<Normalized>& changes);

// The log text `text` with every "YYYY-MM-DD HH:MM:SS" (one or more spaces, or a 'T', between
// date and time) replaced by the source date in the same form. Exposed for tests.
std::string ReplaceLogTimes(const std::string& text, int64_t source_date_epoch);

// The tar archive `tar` with each member's mtime clamped to `source_date_epoch`, in the
// archive's own format; InvalidArgument if `tar` is not an archive libarchive reads. Exposed
// for tests.
absl::StatusOr<std::string> ClampTarTimes(const std::string& tar, int64_t source_date_epoch);

}  // namespace kiln::builder

#endif  // KILN_BUILDER_NORMALIZE_H_
