#include "trust/secretbox.h"

#include <string>

#include "absl/strings/escaping.h"
#include "gtest/gtest.h"
#include "oci/digest.h"

namespace kiln::trust {
namespace {

std::string Bytes(int from, int n) {
  std::string s;
  for (int i = 0; i < n; ++i) s += static_cast<char>(from + i);
  return s;
}

// Vectors made with libsodium (through PyNaCl's SecretBox): key 00..1f, nonce 64..7b; the
// first bytes of the combined box and the SHA-256 of all of it.
TEST(SecretboxTest, MatchesLibsodium) {
  const std::string key = Bytes(0, 32), nonce = Bytes(100, 24);
  std::string long_message;
  for (int i = 0; i < 3; ++i) long_message += Bytes(0, 256);
  struct Case {
    std::string message;
    const char* head;
    const char* sha256;
  };
  for (const Case& c : {
           Case{"", "f49572d6194281e3c87fbb4e2106932c",
                "e59d55482053528323074dee8085bb8c755104982986e9348fe4a15881443150"},
           Case{"hello secretbox", "e15f0cabd53ae3f72de19002d503cb1a6adcf5a55596bd8cd38f46e055ebdb",
                "7a31c18bebf35ec6ae2ce269984492f2e1b93608e382b34fdb156b4b3f08461f"},
           Case{long_message,
                "3cafecc4cb74bf11cbe813e46c4f247202b89bca3eb3c8eeb8f4299f3b89ad172ebb2ab4f0b35d0cbe"
                "15588f1696d797",
                "d483f711b364debdd8239cb68cc42abdccbf19577f6ee593442657fb9fcf6a97"},
       }) {
    auto box = SecretboxSeal(c.message, nonce, key);
    ASSERT_TRUE(box.ok()) << box.status();
    EXPECT_EQ(box->size(), c.message.size() + kSecretboxTagSize);
    std::string head = absl::BytesToHexString(box->substr(0, std::string(c.head).size() / 2));
    EXPECT_EQ(head, c.head) << c.message.size();
    EXPECT_EQ(oci::Digest::Of(*box).hex(), c.sha256) << c.message.size();
    auto opened = SecretboxOpen(*box, nonce, key);
    ASSERT_TRUE(opened.ok()) << opened.status();
    EXPECT_EQ(*opened, c.message);
  }
}

TEST(SecretboxTest, TamperingAndWrongKeysAreRefused) {
  const std::string key = Bytes(1, 32), nonce = Bytes(2, 24);
  auto box = SecretboxSeal("the private key", nonce, key);
  ASSERT_TRUE(box.ok());
  for (size_t i = 0; i < box->size(); ++i) {
    std::string bad = *box;
    bad[i] ^= 1;
    EXPECT_EQ(SecretboxOpen(bad, nonce, key).status().code(), absl::StatusCode::kPermissionDenied);
  }
  EXPECT_FALSE(SecretboxOpen(*box, nonce, Bytes(3, 32)).ok());
  EXPECT_FALSE(SecretboxOpen(*box, Bytes(4, 24), key).ok());
  EXPECT_FALSE(SecretboxOpen(box->substr(0, 10), nonce, key).ok());
  EXPECT_FALSE(SecretboxSeal("x", "short", key).ok());
}

}  // namespace
}  // namespace kiln::trust
