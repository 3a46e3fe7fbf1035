#include "trust/keys.h"

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "base/status_macros.h"
#include "nlohmann/json.hpp"
#include "trust/secretbox.h"

namespace kiln::trust {
namespace {

constexpr char kSigstoreType[] = "ENCRYPTED SIGSTORE PRIVATE KEY";
constexpr char kCosignType[] = "ENCRYPTED COSIGN PRIVATE KEY";
constexpr int kScryptN = 32768, kScryptR = 8, kScryptP = 1;
constexpr size_t kSaltSize = 32;

std::shared_ptr<EVP_PKEY> Own(EVP_PKEY* k) { return std::shared_ptr<EVP_PKEY>(k, EVP_PKEY_free); }

absl::Status OpensslError(absl::string_view what) {
  unsigned long e = ERR_get_error();
  char buf[256] = "unknown error";
  if (e != 0) ERR_error_string_n(e, buf, sizeof buf);
  ERR_clear_error();
  return absl::InternalError(absl::StrCat(what, ": ", buf));
}

absl::StatusOr<std::string> Random(size_t n) {
  std::string out(n, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(n)) != 1) {
    return OpensslError("random bytes");
  }
  return out;
}

absl::StatusOr<std::string> Scrypt(absl::string_view password, absl::string_view salt, uint64_t n,
                                   uint64_t r, uint64_t p) {
  std::string key(kSecretboxKeySize, '\0');
  if (EVP_PBE_scrypt(password.data(), password.size(),
                     reinterpret_cast<const unsigned char*>(salt.data()), salt.size(), n, r, p,
                     uint64_t{1} << 30, reinterpret_cast<unsigned char*>(key.data()),
                     key.size()) != 1) {
    return OpensslError("scrypt");
  }
  return key;
}

std::string Pem(absl::string_view type, absl::string_view der) {
  std::string b64 = absl::Base64Escape(der);
  std::string out = absl::StrCat("-----BEGIN ", type, "-----\n");
  for (size_t i = 0; i < b64.size(); i += 64) absl::StrAppend(&out, b64.substr(i, 64), "\n");
  absl::StrAppend(&out, "-----END ", type, "-----\n");
  return out;
}

// The type and bytes of the first PEM block of `pem`.
absl::StatusOr<std::pair<std::string, std::string>> PemBlock(absl::string_view pem) {
  size_t begin = pem.find("-----BEGIN ");
  if (begin == absl::string_view::npos) return absl::InvalidArgumentError("no PEM block");
  size_t type_end = pem.find("-----", begin + 11);
  if (type_end == absl::string_view::npos) return absl::InvalidArgumentError("bad PEM header");
  std::string type(pem.substr(begin + 11, type_end - begin - 11));
  std::string end_marker = absl::StrCat("-----END ", type, "-----");
  size_t end = pem.find(end_marker, type_end);
  if (end == absl::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat("PEM block ", type, " is not closed"));
  }
  std::string body;
  for (absl::string_view line :
       absl::StrSplit(pem.substr(type_end + 5, end - type_end - 5), '\n')) {
    body += std::string(absl::StripAsciiWhitespace(line));
  }
  std::string der;
  if (!absl::Base64Unescape(body, &der)) {
    return absl::InvalidArgumentError(absl::StrCat("PEM block ", type, " is not base64"));
  }
  return std::make_pair(type, der);
}

absl::StatusOr<std::string> Pkcs8(EVP_PKEY* key) {
  PKCS8_PRIV_KEY_INFO* p8 = EVP_PKEY2PKCS8(key);
  if (p8 == nullptr) return OpensslError("PKCS#8");
  unsigned char* der = nullptr;
  int n = i2d_PKCS8_PRIV_KEY_INFO(p8, &der);
  PKCS8_PRIV_KEY_INFO_free(p8);
  if (n <= 0) return OpensslError("PKCS#8 DER");
  std::string out(reinterpret_cast<char*>(der), n);
  OPENSSL_clear_free(der, n);
  return out;
}

absl::StatusOr<std::shared_ptr<EVP_PKEY>> FromPkcs8(absl::string_view der) {
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  PKCS8_PRIV_KEY_INFO* p8 = d2i_PKCS8_PRIV_KEY_INFO(nullptr, &p, static_cast<long>(der.size()));
  if (p8 == nullptr) {
    ERR_clear_error();
    return absl::InvalidArgumentError("the private key is not PKCS#8");
  }
  EVP_PKEY* key = EVP_PKCS82PKEY(p8);
  PKCS8_PRIV_KEY_INFO_free(p8);
  if (key == nullptr) {
    ERR_clear_error();
    return absl::InvalidArgumentError("the private key is not a key OpenSSL knows");
  }
  return Own(key);
}

std::string Base64Field(const nlohmann::json& j, const char* key) {
  std::string out;
  if (j.is_object() && j.contains(key) && j[key].is_string() &&
      absl::Base64Unescape(j[key].get<std::string>(), &out)) {
    return out;
  }
  return "";
}

// cosign's encrypted form (go-securesystemslib's "encrypted" package): JSON with the scrypt
// parameters and salt, the secretbox nonce, and the ciphertext.
absl::StatusOr<std::string> Decrypt(absl::string_view json_text, absl::string_view password) {
  nlohmann::json j = nlohmann::json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object() || !j.contains("kdf") || !j.contains("cipher")) {
    return absl::InvalidArgumentError("the encrypted private key is not cosign's JSON");
  }
  const nlohmann::json& kdf = j["kdf"];
  const nlohmann::json& cipher = j["cipher"];
  if (!kdf.is_object() || kdf.value("name", "") != "scrypt" || !cipher.is_object() ||
      cipher.value("name", "") != "nacl/secretbox") {
    return absl::InvalidArgumentError("the private key's KDF or cipher is not scrypt/secretbox");
  }
  const nlohmann::json& params = kdf.contains("params") ? kdf["params"] : nlohmann::json();
  auto param = [&](const char* k) -> int64_t {
    return params.is_object() && params.contains(k) && params[k].is_number_integer()
               ? params[k].get<int64_t>()
               : -1;
  };
  int64_t n = param("N"), r = param("r"), p = param("p");
  // The costs go-securesystemslib writes (legacy, standard, OWASP); others are refused.
  if (!((n == 32768 || n == 65536 || n == 131072) && r == 8 && p == 1)) {
    return absl::InvalidArgumentError("the private key's scrypt parameters are not cosign's");
  }
  std::string salt = Base64Field(kdf, "salt");
  std::string nonce = Base64Field(cipher, "nonce");
  std::string ciphertext = Base64Field(j, "ciphertext");
  if (salt.empty() || salt.size() > 1024 || nonce.size() != kSecretboxNonceSize ||
      ciphertext.size() < kSecretboxTagSize) {
    return absl::InvalidArgumentError("the encrypted private key is malformed");
  }
  ASSIGN_OR_RETURN(std::string key, Scrypt(password, salt, n, r, p));
  absl::StatusOr<std::string> plain = SecretboxOpen(ciphertext, nonce, key);
  OPENSSL_cleanse(key.data(), key.size());
  if (!plain.ok()) {
    return absl::PermissionDeniedError("cannot decrypt the private key: wrong password?");
  }
  return plain;
}

absl::StatusOr<std::string> Encrypt(absl::string_view plain, absl::string_view password) {
  ASSIGN_OR_RETURN(std::string salt, Random(kSaltSize));
  ASSIGN_OR_RETURN(std::string nonce, Random(kSecretboxNonceSize));
  ASSIGN_OR_RETURN(std::string key, Scrypt(password, salt, kScryptN, kScryptR, kScryptP));
  absl::StatusOr<std::string> box = SecretboxSeal(plain, nonce, key);
  OPENSSL_cleanse(key.data(), key.size());
  if (!box.ok()) return box.status();
  nlohmann::json j = {
      {"kdf",
       {{"name", "scrypt"},
        {"params", {{"N", kScryptN}, {"r", kScryptR}, {"p", kScryptP}}},
        {"salt", absl::Base64Escape(salt)}}},
      {"cipher", {{"name", "nacl/secretbox"}, {"nonce", absl::Base64Escape(nonce)}}},
      {"ciphertext", absl::Base64Escape(*box)},
  };
  return j.dump();
}

absl::StatusOr<std::string> PublicPemOf(EVP_PKEY* key) {
  BIO* bio = BIO_new(BIO_s_mem());
  if (bio == nullptr || PEM_write_bio_PUBKEY(bio, key) != 1) {
    BIO_free(bio);
    return OpensslError("public key PEM");
  }
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  std::string out(data, n);
  BIO_free(bio);
  return out;
}

}  // namespace

bool IsEncryptedPrivateKey(absl::string_view pem) {
  return absl::StrContains(pem, kSigstoreType) || absl::StrContains(pem, kCosignType);
}

absl::StatusOr<KeyPair> GenerateKeyPair(absl::string_view password) {
  EVP_PKEY* raw = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
  if (raw == nullptr) return OpensslError("generating a P-256 key");
  std::shared_ptr<EVP_PKEY> key = Own(raw);
  ASSIGN_OR_RETURN(std::string der, Pkcs8(key.get()));
  absl::StatusOr<std::string> sealed = Encrypt(der, password);
  OPENSSL_cleanse(der.data(), der.size());
  if (!sealed.ok()) return sealed.status();
  KeyPair pair;
  pair.private_pem = Pem(kSigstoreType, *sealed);
  ASSIGN_OR_RETURN(pair.public_pem, PublicPemOf(key.get()));
  return pair;
}

absl::StatusOr<PrivateKey> PrivateKey::Load(absl::string_view pem, absl::string_view password) {
  if (pem.size() > kMaxKeyFileSize) return absl::InvalidArgumentError("the key file is too large");
  ASSIGN_OR_RETURN(auto block, PemBlock(pem));
  const auto& [type, der] = block;
  if (type == kSigstoreType || type == kCosignType) {
    ASSIGN_OR_RETURN(std::string plain, Decrypt(der, password));
    absl::StatusOr<std::shared_ptr<EVP_PKEY>> key = FromPkcs8(plain);
    OPENSSL_cleanse(plain.data(), plain.size());
    if (!key.ok()) return key.status();
    return PrivateKey(*std::move(key));
  }
  if (type == "PRIVATE KEY") {
    ASSIGN_OR_RETURN(std::shared_ptr<EVP_PKEY> key, FromPkcs8(der));
    return PrivateKey(std::move(key));
  }
  if (type == "EC PRIVATE KEY") {
    const auto* p = reinterpret_cast<const unsigned char*>(der.data());
    EVP_PKEY* key = d2i_PrivateKey(EVP_PKEY_EC, nullptr, &p, static_cast<long>(der.size()));
    if (key == nullptr) {
      ERR_clear_error();
      return absl::InvalidArgumentError("the EC private key does not parse");
    }
    return PrivateKey(Own(key));
  }
  return absl::InvalidArgumentError(absl::StrCat("\"", type, "\" is not a private key"));
}

absl::StatusOr<std::string> PrivateKey::Sign(absl::string_view message) const {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  size_t n = 0;
  std::string sig;
  bool ok = ctx != nullptr &&
            EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, key_.get()) == 1 &&
            EVP_DigestSign(ctx, nullptr, &n, reinterpret_cast<const unsigned char*>(message.data()),
                           message.size()) == 1;
  if (ok) {
    sig.resize(n);
    ok =
        EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &n,
                       reinterpret_cast<const unsigned char*>(message.data()), message.size()) == 1;
    sig.resize(n);
  }
  EVP_MD_CTX_free(ctx);
  if (!ok) return OpensslError("signing");
  return sig;
}

absl::StatusOr<std::string> PrivateKey::PublicPem() const { return PublicPemOf(key_.get()); }

absl::StatusOr<PublicKey> PublicKey::Load(absl::string_view pem) {
  if (pem.size() > kMaxKeyFileSize) return absl::InvalidArgumentError("the key file is too large");
  ASSIGN_OR_RETURN(auto block, PemBlock(pem));
  if (block.first != "PUBLIC KEY") {
    return absl::InvalidArgumentError(absl::StrCat("\"", block.first, "\" is not a public key"));
  }
  const auto* p = reinterpret_cast<const unsigned char*>(block.second.data());
  EVP_PKEY* key = d2i_PUBKEY(nullptr, &p, static_cast<long>(block.second.size()));
  if (key == nullptr) {
    ERR_clear_error();
    return absl::InvalidArgumentError("the public key does not parse");
  }
  return PublicKey(Own(key));
}

absl::Status PublicKey::Verify(absl::string_view message, absl::string_view signature) const {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  int rc =
      ctx != nullptr && EVP_DigestVerifyInit(ctx, nullptr, EVP_sha256(), nullptr, key_.get()) == 1
          ? EVP_DigestVerify(ctx, reinterpret_cast<const unsigned char*>(signature.data()),
                             signature.size(),
                             reinterpret_cast<const unsigned char*>(message.data()), message.size())
          : -1;
  EVP_MD_CTX_free(ctx);
  ERR_clear_error();
  if (rc != 1) return absl::PermissionDeniedError("the signature does not verify with the key");
  return absl::OkStatus();
}

}  // namespace kiln::trust
