#include "trust/keys.h"

#include <string>

#include "absl/strings/match.h"
#include "gtest/gtest.h"

namespace kiln::trust {
namespace {

TEST(KeysTest, GeneratedPairsSignAndVerify) {
  auto pair = GenerateKeyPair("s3cret");
  ASSERT_TRUE(pair.ok()) << pair.status();
  EXPECT_TRUE(
      absl::StartsWith(pair->private_pem, "-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n"));
  EXPECT_TRUE(IsEncryptedPrivateKey(pair->private_pem));
  EXPECT_TRUE(absl::StartsWith(pair->public_pem, "-----BEGIN PUBLIC KEY-----\n"));

  auto key = PrivateKey::Load(pair->private_pem, "s3cret");
  ASSERT_TRUE(key.ok()) << key.status();
  EXPECT_EQ(*key->PublicPem(), pair->public_pem);
  EXPECT_EQ(PrivateKey::Load(pair->private_pem, "wrong").status().code(),
            absl::StatusCode::kPermissionDenied);

  auto pub = PublicKey::Load(pair->public_pem);
  ASSERT_TRUE(pub.ok()) << pub.status();
  auto sig = key->Sign("payload");
  ASSERT_TRUE(sig.ok());
  EXPECT_TRUE(pub->Verify("payload", *sig).ok());
  EXPECT_FALSE(pub->Verify("payloaD", *sig).ok());
  EXPECT_FALSE(pub->Verify("payload", sig->substr(0, sig->size() - 1)).ok());
  auto other = GenerateKeyPair("");
  ASSERT_TRUE(other.ok());
  EXPECT_FALSE(PublicKey::Load(other->public_pem)->Verify("payload", *sig).ok());
  EXPECT_TRUE(PrivateKey::Load(other->private_pem, "").ok());  // an empty password works
}

TEST(KeysTest, HostileKeyFilesAreRefused) {
  auto pair = GenerateKeyPair("pw");
  ASSERT_TRUE(pair.ok());
  for (const std::string& bad : {
           std::string("not a pem"),
           std::string("-----BEGIN PUBLIC KEY-----\nAAAA\n"),
           std::string("-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n!!\n"
                       "-----END ENCRYPTED SIGSTORE PRIVATE KEY-----\n"),
           // {"kdf":{"name":"scrypt","params":{"N":1073741824,"r":8,"p":1},"salt":"AA=="},...}
           std::string("-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n"
                       "eyJrZGYiOnsibmFtZSI6InNjcnlwdCIsInBhcmFtcyI6eyJOIjoxMDczNzQxODI0LCJy"
                       "Ijo4LCJwIjoxfSwic2FsdCI6IkFBPT0ifSwiY2lwaGVyIjp7Im5hbWUiOiJuYWNsL3Nl"
                       "Y3JldGJveCIsIm5vbmNlIjoiQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUEi"
                       "fSwiY2lwaGVydGV4dCI6IkFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQSJ9"
                       "\n"
                       "-----END ENCRYPTED SIGSTORE PRIVATE KEY-----\n"),
           pair->public_pem,
           std::string(kMaxKeyFileSize + 1, 'x'),
       }) {
    EXPECT_FALSE(PrivateKey::Load(bad, "pw").ok()) << bad.substr(0, 60);
  }
  EXPECT_FALSE(PublicKey::Load(pair->private_pem).ok());
  EXPECT_FALSE(
      PublicKey::Load("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n").ok());
}

}  // namespace
}  // namespace kiln::trust
