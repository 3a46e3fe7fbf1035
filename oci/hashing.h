// Streams that hash (SHA-256) and count what passes through them: the digest of a blob
// while it is read or written, with no second pass.
#ifndef KILN_OCI_HASHING_H_
#define KILN_OCI_HASHING_H_

#include <cstdint>
#include <functional>
#include <memory>

#include "base/io.h"
#include "oci/digest.h"

namespace kiln::oci {

class HashingReader : public Reader {
 public:
  explicit HashingReader(std::unique_ptr<Reader> in) : in_(std::move(in)) {}
  absl::StatusOr<size_t> Read(char* buf, size_t n) override;
  uint64_t size() const { return size_; }
  // The digest of everything read; call once.
  Digest Finish() { return hash_.Finish(); }

 private:
  std::unique_ptr<Reader> in_;
  Sha256 hash_;
  uint64_t size_ = 0;
};

class HashingWriter : public Writer {
 public:
  // `on_progress`, if set, is told the bytes written so far after each write.
  explicit HashingWriter(Writer* next, std::function<void(uint64_t)> on_progress = nullptr)
      : next_(next), on_progress_(std::move(on_progress)) {}
  absl::Status Write(absl::string_view data) override;
  uint64_t size() const { return size_; }
  Digest Finish() { return hash_.Finish(); }

 private:
  Writer* next_;
  std::function<void(uint64_t)> on_progress_;
  Sha256 hash_;
  uint64_t size_ = 0;
};

}  // namespace kiln::oci

#endif  // KILN_OCI_HASHING_H_
