#include "base/io.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/file_util.h"
#include "base/status_macros.h"

namespace kiln {

absl::StatusOr<size_t> StringReader::Read(char* buf, size_t n) {
  size_t k = std::min(n, data_.size());
  std::memcpy(buf, data_.data(), k);
  data_.remove_prefix(k);
  return k;
}

absl::StatusOr<size_t> FdReader::Read(char* buf, size_t n) {
  while (true) {
    ssize_t k = ::read(fd_, buf, n);
    if (k >= 0) return static_cast<size_t>(k);
    if (errno != EINTR) return ErrnoError("read");
  }
}

absl::Status FdWriter::Write(absl::string_view data) { return WriteAll(fd_, data); }

absl::StatusOr<uint64_t> Copy(Reader& from, Writer& to) {
  std::vector<char> buf(1 << 20);
  uint64_t total = 0;
  while (true) {
    ASSIGN_OR_RETURN(size_t n, from.Read(buf.data(), buf.size()));
    if (n == 0) return total;
    RETURN_IF_ERROR(to.Write(absl::string_view(buf.data(), n)));
    total += n;
  }
}

absl::StatusOr<std::string> ReadAllFrom(Reader& from, uint64_t max_size) {
  std::string out;
  char buf[65536];
  while (true) {
    ASSIGN_OR_RETURN(size_t n, from.Read(buf, sizeof buf));
    if (n == 0) return out;
    if (out.size() + n > max_size) {
      return absl::OutOfRangeError(absl::StrCat("more than the limit of ", max_size, " bytes"));
    }
    out.append(buf, n);
  }
}

}  // namespace kiln
