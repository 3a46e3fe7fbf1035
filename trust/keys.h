// Signing keys in cosign's formats: ECDSA P-256 key pairs, the private key PKCS#8 DER
// encrypted under a password (scrypt, then NaCl secretbox) in a PEM block "ENCRYPTED SIGSTORE
// PRIVATE KEY" (also read: "ENCRYPTED COSIGN PRIVATE KEY", and unencrypted PKCS#8 or SEC1 PEM
// keys as openssl writes them), the public key PKIX PEM ("PUBLIC KEY"). Signatures are ASN.1
// DER ECDSA over SHA-256, as cosign makes them. Key files are untrusted input: capped at
// kMaxKeyFileSize, and only scrypt costs cosign writes are accepted (no password-grinding DoS).
#ifndef KILN_TRUST_KEYS_H_
#define KILN_TRUST_KEYS_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

typedef struct evp_pkey_st EVP_PKEY;

namespace kiln::trust {

inline constexpr size_t kMaxKeyFileSize = 64 << 10;

struct KeyPair {
  std::string private_pem;  // encrypted
  std::string public_pem;
};

// A new P-256 key pair, the private key encrypted under `password` (which may be empty).
absl::StatusOr<KeyPair> GenerateKeyPair(absl::string_view password);

class PrivateKey {
 public:
  // `password` decrypts an encrypted key (PermissionDenied when it is wrong).
  static absl::StatusOr<PrivateKey> Load(absl::string_view pem, absl::string_view password);
  absl::StatusOr<std::string> Sign(absl::string_view message) const;  // DER
  absl::StatusOr<std::string> PublicPem() const;

 private:
  explicit PrivateKey(std::shared_ptr<EVP_PKEY> key) : key_(std::move(key)) {}
  std::shared_ptr<EVP_PKEY> key_;
};

class PublicKey {
 public:
  static absl::StatusOr<PublicKey> Load(absl::string_view pem);
  // OK iff `signature` (DER) is the key's signature of `message`; PermissionDenied otherwise.
  absl::Status Verify(absl::string_view message, absl::string_view signature) const;

 private:
  explicit PublicKey(std::shared_ptr<EVP_PKEY> key) : key_(std::move(key)) {}
  std::shared_ptr<EVP_PKEY> key_;
};

// True when `pem` holds an encrypted (cosign) private key, which needs a password.
bool IsEncryptedPrivateKey(absl::string_view pem);

}  // namespace kiln::trust

#endif  // KILN_TRUST_KEYS_H_
