#include "trust/secretbox.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <array>
#include <cstdint>
#include <cstring>

namespace kiln::trust {
namespace {

using Block = std::array<uint32_t, 16>;

uint32_t Load32(const unsigned char* p) {
  return uint32_t{p[0]} | uint32_t{p[1]} << 8 | uint32_t{p[2]} << 16 | uint32_t{p[3]} << 24;
}

void Store32(unsigned char* p, uint32_t v) {
  p[0] = static_cast<unsigned char>(v);
  p[1] = static_cast<unsigned char>(v >> 8);
  p[2] = static_cast<unsigned char>(v >> 16);
  p[3] = static_cast<unsigned char>(v >> 24);
}

uint32_t Rotl(uint32_t v, int n) { return (v << n) | (v >> (32 - n)); }

void QuarterRound(uint32_t& a, uint32_t& b, uint32_t& c, uint32_t& d) {
  b ^= Rotl(a + d, 7);
  c ^= Rotl(b + a, 9);
  d ^= Rotl(c + b, 13);
  a ^= Rotl(d + c, 18);
}

// The 20 rounds of Salsa20 over `x`, without the final addition of the input.
void Rounds(Block& x) {
  for (int i = 0; i < 10; ++i) {
    QuarterRound(x[0], x[4], x[8], x[12]);  // columns
    QuarterRound(x[5], x[9], x[13], x[1]);
    QuarterRound(x[10], x[14], x[2], x[6]);
    QuarterRound(x[15], x[3], x[7], x[11]);
    QuarterRound(x[0], x[1], x[2], x[3]);  // rows
    QuarterRound(x[5], x[6], x[7], x[4]);
    QuarterRound(x[10], x[11], x[8], x[9]);
    QuarterRound(x[15], x[12], x[13], x[14]);
  }
}

// The input block: "expand 32-byte k", the key, and 16 bytes of nonce and counter.
Block Input(const unsigned char* key, const unsigned char* in16) {
  Block s;
  s[0] = 0x61707865;
  s[5] = 0x3320646e;
  s[10] = 0x79622d32;
  s[15] = 0x6b206574;
  for (int i = 0; i < 4; ++i) {
    s[1 + i] = Load32(key + 4 * i);
    s[11 + i] = Load32(key + 16 + 4 * i);
    s[6 + i] = Load32(in16 + 4 * i);
  }
  return s;
}

// HSalsa20: the subkey XSalsa20 derives from the key and the nonce's first 16 bytes.
std::array<unsigned char, 32> HSalsa20(const unsigned char* key, const unsigned char* in16) {
  Block x = Input(key, in16);
  Rounds(x);
  std::array<unsigned char, 32> out;
  const int words[8] = {0, 5, 10, 15, 6, 7, 8, 9};
  for (int i = 0; i < 8; ++i) Store32(out.data() + 4 * i, x[words[i]]);
  return out;
}

// Salsa20's key stream for `key` and an 8-byte nonce, `n` bytes from the start.
std::string KeyStream(const unsigned char* key, const unsigned char* nonce8, size_t n) {
  std::string out;
  out.reserve(n + 64);
  unsigned char in16[16] = {};
  std::memcpy(in16, nonce8, 8);
  for (uint64_t counter = 0; out.size() < n; ++counter) {
    for (int i = 0; i < 8; ++i) in16[8 + i] = static_cast<unsigned char>(counter >> (8 * i));
    Block input = Input(key, in16);
    Block x = input;
    Rounds(x);
    unsigned char block[64];
    for (int i = 0; i < 16; ++i) Store32(block + 4 * i, x[i] + input[i]);
    out.append(reinterpret_cast<const char*>(block), 64);
  }
  out.resize(n);
  return out;
}

absl::StatusOr<std::string> Poly1305(absl::string_view one_time_key, absl::string_view message) {
  EVP_MAC* mac = EVP_MAC_fetch(nullptr, "POLY1305", nullptr);
  if (mac == nullptr) return absl::InternalError("OpenSSL has no Poly1305");
  EVP_MAC_CTX* ctx = EVP_MAC_CTX_new(mac);
  EVP_MAC_free(mac);
  if (ctx == nullptr) return absl::InternalError("Poly1305 context");
  unsigned char tag[16];
  size_t len = 0;
  bool ok = EVP_MAC_init(ctx, reinterpret_cast<const unsigned char*>(one_time_key.data()),
                         one_time_key.size(), nullptr) == 1 &&
            EVP_MAC_update(ctx, reinterpret_cast<const unsigned char*>(message.data()),
                           message.size()) == 1 &&
            EVP_MAC_final(ctx, tag, &len, sizeof tag) == 1 && len == sizeof tag;
  EVP_MAC_CTX_free(ctx);
  if (!ok) return absl::InternalError("Poly1305 failed");
  return std::string(reinterpret_cast<const char*>(tag), sizeof tag);
}

absl::Status CheckSizes(absl::string_view nonce, absl::string_view key) {
  if (key.size() != kSecretboxKeySize || nonce.size() != kSecretboxNonceSize) {
    return absl::InvalidArgumentError("secretbox: a key of 32 bytes and a nonce of 24 are needed");
  }
  return absl::OkStatus();
}

// The key stream for the message: its first 32 bytes are the Poly1305 key.
std::string Stream(absl::string_view nonce, absl::string_view key, size_t message_size) {
  const auto* n = reinterpret_cast<const unsigned char*>(nonce.data());
  std::array<unsigned char, 32> subkey =
      HSalsa20(reinterpret_cast<const unsigned char*>(key.data()), n);
  std::string stream = KeyStream(subkey.data(), n + 16, 32 + message_size);
  OPENSSL_cleanse(subkey.data(), subkey.size());
  return stream;
}

}  // namespace

absl::StatusOr<std::string> SecretboxSeal(absl::string_view message, absl::string_view nonce,
                                          absl::string_view key) {
  if (absl::Status s = CheckSizes(nonce, key); !s.ok()) return s;
  std::string stream = Stream(nonce, key, message.size());
  std::string body(message);
  for (size_t i = 0; i < body.size(); ++i) body[i] ^= stream[32 + i];
  absl::StatusOr<std::string> tag = Poly1305(absl::string_view(stream).substr(0, 32), body);
  OPENSSL_cleanse(stream.data(), stream.size());
  if (!tag.ok()) return tag.status();
  return *tag + body;
}

absl::StatusOr<std::string> SecretboxOpen(absl::string_view boxed, absl::string_view nonce,
                                          absl::string_view key) {
  if (absl::Status s = CheckSizes(nonce, key); !s.ok()) return s;
  if (boxed.size() < kSecretboxTagSize) {
    return absl::PermissionDeniedError("secretbox: shorter than its tag");
  }
  absl::string_view tag = boxed.substr(0, kSecretboxTagSize);
  absl::string_view body = boxed.substr(kSecretboxTagSize);
  std::string stream = Stream(nonce, key, body.size());
  absl::StatusOr<std::string> want = Poly1305(absl::string_view(stream).substr(0, 32), body);
  if (!want.ok()) return want.status();
  if (CRYPTO_memcmp(want->data(), tag.data(), kSecretboxTagSize) != 0) {
    OPENSSL_cleanse(stream.data(), stream.size());
    return absl::PermissionDeniedError("secretbox: the tag does not verify (wrong password?)");
  }
  std::string message(body);
  for (size_t i = 0; i < message.size(); ++i) message[i] ^= stream[32 + i];
  OPENSSL_cleanse(stream.data(), stream.size());
  return message;
}

}  // namespace kiln::trust
