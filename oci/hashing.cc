#include "oci/hashing.h"

#include "base/status_macros.h"

namespace kiln::oci {

absl::StatusOr<size_t> HashingReader::Read(char* buf, size_t n) {
  ASSIGN_OR_RETURN(size_t k, in_->Read(buf, n));
  hash_.Update(absl::string_view(buf, k));
  size_ += k;
  return k;
}

absl::Status HashingWriter::Write(absl::string_view data) {
  hash_.Update(data);
  size_ += data.size();
  if (on_progress_) on_progress_(size_);
  return next_->Write(data);
}

}  // namespace kiln::oci
