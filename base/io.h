// Byte-stream interfaces shared by the store, the tar writer and compression. A Writer or a
// Reader is used by one thread at a time.
#ifndef KILN_BASE_IO_H_
#define KILN_BASE_IO_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "base/unique_fd.h"

namespace kiln {

class Writer {
 public:
  virtual ~Writer() = default;
  virtual absl::Status Write(absl::string_view data) = 0;
  // Flushes whatever the writer buffers into the layer below. Writing after Close is an error.
  virtual absl::Status Close() { return absl::OkStatus(); }
};

class Reader {
 public:
  virtual ~Reader() = default;
  // Reads up to `n` bytes; 0 means end of stream. Errors are final.
  virtual absl::StatusOr<size_t> Read(char* buf, size_t n) = 0;
};

// Appends to a string.
class StringWriter : public Writer {
 public:
  explicit StringWriter(std::string* out) : out_(out) {}
  absl::Status Write(absl::string_view data) override {
    out_->append(data.data(), data.size());
    return absl::OkStatus();
  }

 private:
  std::string* out_;
};

// Reads a string.
class StringReader : public Reader {
 public:
  explicit StringReader(absl::string_view data) : data_(data) {}
  absl::StatusOr<size_t> Read(char* buf, size_t n) override;

 private:
  absl::string_view data_;
};

// Reads from a file descriptor it does not own.
class FdReader : public Reader {
 public:
  explicit FdReader(int fd) : fd_(fd) {}
  absl::StatusOr<size_t> Read(char* buf, size_t n) override;

 private:
  int fd_;
};

// Reads from a file descriptor it owns.
class OwnedFdReader : public Reader {
 public:
  explicit OwnedFdReader(UniqueFd fd) : fd_(std::move(fd)) {}
  absl::StatusOr<size_t> Read(char* buf, size_t n) override {
    return FdReader(fd_.get()).Read(buf, n);
  }

 private:
  UniqueFd fd_;
};

// Writes to a file descriptor it does not own.
class FdWriter : public Writer {
 public:
  explicit FdWriter(int fd) : fd_(fd) {}
  absl::Status Write(absl::string_view data) override;

 private:
  int fd_;
};

// Copies `from` to `to` until EOF; returns the byte count. Does not Close `to`.
absl::StatusOr<uint64_t> Copy(Reader& from, Writer& to);

// Reads everything, failing with OutOfRange past `max_size` bytes.
absl::StatusOr<std::string> ReadAllFrom(Reader& from, uint64_t max_size);

}  // namespace kiln

#endif  // KILN_BASE_IO_H_
