// Content digests ("sha256:<64 hex>") and a streaming SHA-256. A Digest is validated on
// construction (algorithm, lowercase hex, length), so its hex part is always safe to use as a
// file name. Digest is an immutable value; Sha256 is not thread-safe.
#ifndef KILN_OCI_DIGEST_H_
#define KILN_OCI_DIGEST_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace kiln::oci {

class Digest {
 public:
  // Parses "algorithm:encoded". Accepts sha256 (64 hex) and sha512 (128 hex), lowercase only.
  static absl::StatusOr<Digest> Parse(absl::string_view text);
  // The sha256 digest of `data`.
  static Digest Of(absl::string_view data);
  // From a raw 32-byte SHA-256 value.
  static Digest FromSha256Bytes(const unsigned char bytes[32]);

  Digest() = default;  // Empty; only for containers. valid() is false.
  bool valid() const { return !algorithm_.empty(); }
  const std::string& algorithm() const { return algorithm_; }
  const std::string& hex() const { return hex_; }
  std::string str() const { return algorithm_ + ":" + hex_; }
  // "sha256:0123456789ab", for messages.
  std::string Short() const { return algorithm_ + ":" + hex_.substr(0, 12); }

  friend bool operator==(const Digest& a, const Digest& b) = default;
  friend auto operator<=>(const Digest& a, const Digest& b) = default;
  template <typename H>
  friend H AbslHashValue(H h, const Digest& d) {
    return H::combine(std::move(h), d.algorithm_, d.hex_);
  }

 private:
  Digest(std::string algorithm, std::string hex)
      : algorithm_(std::move(algorithm)), hex_(std::move(hex)) {}
  std::string algorithm_;
  std::string hex_;
};

// Incremental SHA-256 (OpenSSL; uses SHA-NI where the CPU has it).
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void Update(absl::string_view data);
  // Ends the computation; the object must not be updated afterwards.
  Digest Finish();

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace kiln::oci

#endif  // KILN_OCI_DIGEST_H_
