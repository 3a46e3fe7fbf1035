// Remembers the SHA-256 of context files by what stat(2) says about them (device, inode,
// size, modification and change times), so a rebuild re-reads only the files that changed,
// as git's index does. An entry is only trusted for a file whose change time was at least a
// second old when it was hashed: a write in the same clock tick could otherwise go unseen.
// Kept in one file in the store, replaced atomically; a missing or damaged file is an empty
// cache. Thread-safe.
#ifndef KILN_BUILDER_CONTEXT_FILE_DIGESTS_H_
#define KILN_BUILDER_CONTEXT_FILE_DIGESTS_H_

#include <sys/stat.h>

#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <tuple>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "oci/digest.h"

namespace kiln::builder::context {

class FileDigests {
 public:
  // Entries used by this process are kept first when saving, others while room remains.
  static constexpr size_t kMaxEntries = 200'000;

  FileDigests() = default;
  FileDigests(FileDigests&& other) noexcept
      : entries_(std::move(other.entries_)), changed_(other.changed_) {}
  static FileDigests Load(const std::string& path);
  // Writes the cache if anything was learned since it was loaded.
  absl::Status Save(const std::string& path) const;

  std::optional<oci::Digest> Find(const struct stat& st);
  // `read_started`: the time (CLOCK_REALTIME) before the file was stat'ed and read.
  void Remember(const struct stat& st, const oci::Digest& digest,
                const struct timespec& read_started);
  // The file known as `before` was linked and unlinked by kiln itself, which changed only its
  // ctime: if `after` is the same file otherwise, it keeps its digest.
  void Relink(const struct stat& before, const struct stat& after);
  size_t size() const;

 private:
  using Key = std::tuple<uint64_t, uint64_t, uint64_t, int64_t, int64_t>;
  static Key KeyOf(const struct stat& st);
  mutable std::mutex mu_;
  struct Value {
    oci::Digest digest;
    bool used = false;
  };
  absl::flat_hash_map<Key, Value> entries_;
  bool changed_ = false;
};

}  // namespace kiln::builder::context

#endif  // KILN_BUILDER_CONTEXT_FILE_DIGESTS_H_
