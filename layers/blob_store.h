// A content-addressed blob store: `<root>/blobs/<algorithm>/<hex>`, the blob layout of an OCI
// image layout. Contracts:
// - Ingest is atomic and idempotent: bytes go to a temporary file in the ingest directory, are
//   fsynced, their digest and size checked, and only then renamed into place (and the directory
//   fsynced). A reader never sees a partial blob; putting a blob twice is harmless.
// - Reads verify: Open() returns a reader that fails with DataLoss at EOF if the bytes do not
//   match the digest, so a corrupted blob is reported, never served silently.
// Thread-safe and safe across processes (all changes are single renames).
#ifndef KILN_LAYERS_BLOB_STORE_H_
#define KILN_LAYERS_BLOB_STORE_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "base/io.h"
#include "base/unique_fd.h"
#include "oci/digest.h"
#include "oci/verifying_reader.h"

namespace kiln::layers {

class BlobStore {
 public:
  // `root` holds blobs/; `ingest_dir` receives temporary files and must be on the same file
  // system. Both are created if missing. An empty `ingest_dir` opens the store read-only:
  // nothing is created and StartIngest fails.
  static absl::StatusOr<std::unique_ptr<BlobStore>> Open(std::string root, std::string ingest_dir);

  // A blob being written. Destroying it without Commit discards the bytes.
  class Ingest : public Writer {
   public:
    ~Ingest() override;
    absl::Status Write(absl::string_view data) override;
    uint64_t size() const { return size_; }
    // Finishes the blob. If `expected` is given, the content must have that digest (else
    // DataLoss and nothing is stored); likewise `expected_size` when >= 0.
    absl::StatusOr<oci::Digest> Commit(const std::optional<oci::Digest>& expected = std::nullopt,
                                       int64_t expected_size = -1);

   private:
    friend class BlobStore;
    Ingest(const BlobStore* store, UniqueFd fd, std::string path);
    const BlobStore* store_;
    UniqueFd fd_;
    std::string path_;
    oci::Sha256 hash_;
    uint64_t size_ = 0;
    bool done_ = false;
  };

  absl::StatusOr<std::unique_ptr<Ingest>> StartIngest() const;
  // Adds blob `d` as a hard link to `file`, whose bytes the caller vouches for (another
  // store's verified blob); only the size is checked. Fails (and stores nothing) when the file
  // is on another file system or may not be linked: then copy instead.
  absl::Status Link(const std::string& file, const oci::Digest& d, int64_t size) const;
  // Stores `data`; returns its sha256 digest.
  absl::StatusOr<oci::Digest> Put(absl::string_view data) const;
  // Stores everything `from` yields, checking it against `expected` and `expected_size` (>= 0).
  absl::StatusOr<oci::Digest> PutFrom(Reader& from, const std::optional<oci::Digest>& expected,
                                      int64_t expected_size = -1) const;

  bool Has(const oci::Digest& digest) const;
  // The stored size, NotFound if absent.
  absl::StatusOr<int64_t> Size(const oci::Digest& digest) const;
  // A reader that verifies size (when `expected_size` >= 0) and digest as it reaches EOF.
  absl::StatusOr<std::unique_ptr<Reader>> Open(const oci::Digest& digest,
                                               int64_t expected_size = -1) const;
  // A reader of the stored bytes that does not verify them, for a consumer that does.
  absl::StatusOr<std::unique_ptr<Reader>> OpenUnverified(const oci::Digest& digest) const;
  // Reads and verifies a whole blob of at most `max_size` bytes.
  absl::StatusOr<std::string> ReadAll(const oci::Digest& digest, uint64_t max_size) const;
  // Re-hashes a stored blob; DataLoss if its content does not match its name.
  absl::Status Verify(const oci::Digest& digest) const;
  absl::Status Remove(const oci::Digest& digest) const;
  // Every blob present (names that are not valid digests are skipped).
  absl::StatusOr<std::vector<oci::Digest>> List() const;

  std::string PathOf(const oci::Digest& digest) const;
  const std::string& root() const { return root_; }

 private:
  BlobStore(std::string root, std::string ingest_dir)
      : root_(std::move(root)), ingest_dir_(std::move(ingest_dir)) {}
  std::string root_;
  std::string ingest_dir_;
};

}  // namespace kiln::layers

#endif  // KILN_LAYERS_BLOB_STORE_H_
