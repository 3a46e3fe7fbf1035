// Small file-system helpers with errno-carrying errors. Stateless and thread-safe.
#ifndef KILN_BASE_FILE_UTIL_H_
#define KILN_BASE_FILE_UTIL_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "base/unique_fd.h"

namespace kiln {

// Reads a whole file; fails with OutOfRange if it is larger than `max_size` bytes.
absl::StatusOr<std::string> ReadFile(const std::string& path, uint64_t max_size);

// Writes `data` to `path` atomically: a temporary file beside it, fsync, rename, fsync of the
// directory. Readers see the old or the new content, never a mix.
absl::Status WriteFileAtomic(const std::string& path, absl::string_view data, int mode = 0644);

// Writes `data` into `path` in place, without syncing: for files no crash recovery needs
// (scratch files of a build) and for kernel interfaces (/proc, cgroup files), which must
// already exist (`create` false). Errors name the file and the value written.
absl::Status WriteFileInPlace(const std::string& path, absl::string_view data, bool create = true,
                              int mode = 0644);

// Writes all of `data` to `fd`, retrying short writes and EINTR.
absl::Status WriteAll(int fd, absl::string_view data);

// mkdir -p.
absl::Status MakeDirs(const std::string& path, int mode = 0755);

// Removes `path` and everything below it; missing is not an error.
absl::Status RemoveAll(const std::string& path);
// The bytes `path` and everything below it take on disk (allocated blocks; a file with
// several links under it counted once); 0 when it is missing.
uint64_t DiskUsageOf(const std::string& path);

absl::Status FsyncDir(const std::string& dir);

bool PathExists(const std::string& path);

// The names in `dir` without "." and ".." (none if it does not exist), unsorted.
absl::StatusOr<std::vector<std::string>> ListDir(const std::string& dir);

// The directory part of `path` ("." when it has none).
std::string Dirname(absl::string_view path);
// The last segment of `path` (all of it when it has no '/').
std::string Basename(absl::string_view path);

// Creates a fresh directory named `prefix` + random suffix, e.g. "/tmp/kiln-XXXXXX".
absl::StatusOr<std::string> MakeTempDir(const std::string& prefix);

// A directory removed with everything below it when this object dies, and by the next
// TempDir::Create of the same prefix when its maker died first (SIGKILL, a crash): the maker
// holds a lock on `<dir>.owner` (beside it, so the directory holds only what is put there)
// for the object's life, and a free lock means a dead maker.
class TempDir {
 public:
  static absl::StatusOr<TempDir> Create(const std::string& prefix);
  TempDir(TempDir&& other) noexcept
      : path_(std::move(other.path_)), owner_(std::move(other.owner_)) {
    other.path_.clear();
  }
  TempDir& operator=(TempDir&&) = delete;
  TempDir(const TempDir&) = delete;
  ~TempDir();
  const std::string& path() const { return path_; }

 private:
  TempDir(std::string path, UniqueFd owner) : path_(std::move(path)), owner_(std::move(owner)) {}
  std::string path_;
  UniqueFd owner_;  // holds the lock on path_ + ".owner"
};

// Removes the directories named `prefix` + suffix whose makers are dead: their `.owner` lock
// is free, or (made before the lock, or by a maker killed before it took it) they have none
// and are older than `unowned_age_seconds`. Best effort: what cannot be removed stays.
// Returns how many were removed.
int SweepDeadTempDirs(const std::string& prefix, int64_t unowned_age_seconds = 3600);

}  // namespace kiln

#endif  // KILN_BASE_FILE_UTIL_H_
