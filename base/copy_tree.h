// A deep copy of a directory tree: directories, regular files (contents copied with
// copy_file_range, so reflinks where the file system has them), symlinks as symlinks, fifos
// and device nodes recreated when allowed; modes, owners and modification times kept, hard
// links within the tree kept. Nothing is followed out of the tree. Sockets are skipped.
#ifndef KILN_BASE_COPY_TREE_H_
#define KILN_BASE_COPY_TREE_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"

namespace kiln {

inline constexpr uint64_t kMaxCopyTreeEntries = 4'000'000;

// Copies `src` (a directory or a single file) to `dst`, which must not exist.
absl::Status CopyTree(const std::string& src, const std::string& dst);

}  // namespace kiln

#endif  // KILN_BASE_COPY_TREE_H_
