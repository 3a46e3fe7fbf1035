#include "oci/verifying_reader.h"

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"

namespace kiln::oci {
namespace {

class VerifyingReader : public Reader {
 public:
  VerifyingReader(std::unique_ptr<Reader> in, Digest expected, int64_t expected_size,
                  std::string what)
      : in_(std::move(in)),
        expected_(std::move(expected)),
        expected_size_(expected_size),
        what_(std::move(what)) {}

  // Errors are sticky: once the content is known to be wrong, every later Read says so.
  absl::StatusOr<size_t> Read(char* buf, size_t n) override {
    if (!error_.ok()) return error_;
    if (done_) return 0;
    auto k = Step(buf, n);
    if (!k.ok()) error_ = k.status();
    return k;
  }

 private:
  absl::StatusOr<size_t> Step(char* buf, size_t n) {
    ASSIGN_OR_RETURN(size_t k, in_->Read(buf, n));
    size_ += k;
    if (expected_size_ >= 0 && size_ > static_cast<uint64_t>(expected_size_)) {
      return absl::DataLossError(
          absl::StrCat(what_, ": more than the expected ", expected_size_, " bytes"));
    }
    if (k > 0) {
      hash_.Update(absl::string_view(buf, k));
      return k;
    }
    done_ = true;
    if (expected_size_ >= 0 && size_ != static_cast<uint64_t>(expected_size_)) {
      return absl::DataLossError(
          absl::StrCat(what_, ": size ", size_, " does not match the expected ", expected_size_));
    }
    Digest got = hash_.Finish();
    if (got != expected_) {
      return absl::DataLossError(absl::StrCat(what_, ": digest mismatch: content is ", got.str(),
                                              ", expected ", expected_.str()));
    }
    return 0;
  }

  std::unique_ptr<Reader> in_;
  Digest expected_;
  int64_t expected_size_;
  std::string what_;
  Sha256 hash_;
  uint64_t size_ = 0;
  bool done_ = false;
  absl::Status error_;
};

}  // namespace

std::unique_ptr<Reader> NewVerifyingReader(std::unique_ptr<Reader> in, Digest expected,
                                           int64_t expected_size, std::string what) {
  return std::make_unique<VerifyingReader>(std::move(in), std::move(expected), expected_size,
                                           std::move(what));
}

}  // namespace kiln::oci
