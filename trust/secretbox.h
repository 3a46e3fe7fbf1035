// NaCl's secretbox (XSalsa20 and Poly1305; crypto_secretbox_xsalsa20poly1305), the cipher of
// cosign's encrypted private keys. Salsa20 is here because OpenSSL has none; Poly1305 is
// OpenSSL's. Output and input are NaCl's "combined" form: the 16-byte tag, then the message.
#ifndef KILN_TRUST_SECRETBOX_H_
#define KILN_TRUST_SECRETBOX_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace kiln::trust {

inline constexpr size_t kSecretboxKeySize = 32;
inline constexpr size_t kSecretboxNonceSize = 24;
inline constexpr size_t kSecretboxTagSize = 16;

// REQUIRES: key is 32 bytes, nonce 24.
absl::StatusOr<std::string> SecretboxSeal(absl::string_view message, absl::string_view nonce,
                                          absl::string_view key);
// PermissionDenied when the tag does not verify (a wrong key, or tampered bytes).
absl::StatusOr<std::string> SecretboxOpen(absl::string_view boxed, absl::string_view nonce,
                                          absl::string_view key);

}  // namespace kiln::trust

#endif  // KILN_TRUST_SECRETBOX_H_
