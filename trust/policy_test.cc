#include "trust/policy.h"

#include <string>

#include "absl/strings/escaping.h"
#include "base/file_util.h"
#include "gtest/gtest.h"
#include "trust/keys.h"

namespace kiln::trust {
namespace {

oci::Reference Ref(const std::string& s) { return *oci::Reference::Parse(s); }

class PolicyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_.emplace(*TempDir::Create("/tmp/kiln-policy-"));
    pair_ = *GenerateKeyPair("");
    ASSERT_TRUE(WriteFileAtomic(dir_->path() + "/team.pub", pair_.public_pem).ok());
  }
  absl::StatusOr<Policy> Parse(const std::string& text) {
    return Policy::Parse(text, "policy.json", dir_->path());
  }
  std::optional<TempDir> dir_;
  KeyPair pair_;
};

TEST_F(PolicyTest, TheMostSpecificScopeWins) {
  auto p = Parse(R"({
    "default": [{"type": "reject"}],
    "transports": {
      "docker": {
        "": [{"type": "insecureAcceptAnything"}],
        "*.example.com": [{"type": "reject"}],
        "registry.example.com/team": [{"type": "sigstoreSigned", "keyPath": "team.pub",
                                       "signedIdentity": {"type": "matchRepository"}}],
        "registry.example.com/team/app:1": [{"type": "insecureAcceptAnything"}],
        "docker.io/library/busybox": [{"type": "reject"}]
      },
      "oci": {"/srv/trusted": [{"type": "insecureAcceptAnything"}]}
    }
  })");
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->For("docker", "registry.example.com/team/app:1").scope,
            "registry.example.com/team/app:1");
  EXPECT_EQ(p->For("docker", "registry.example.com/team/app:2").scope, "registry.example.com/team");
  EXPECT_EQ(p->For("docker", "registry.example.com/team/sub/app:2").scope,
            "registry.example.com/team");
  EXPECT_EQ(p->For("docker", "registry.example.com/other:1").scope, "*.example.com");
  EXPECT_EQ(p->For("docker", "a.b.example.com:5000/x:1").scope, "*.example.com");
  EXPECT_EQ(p->For("docker", "busybox").scope, "docker.io/library/busybox");
  EXPECT_EQ(p->For("docker", "quay.io/x/y:1").scope, "");
  EXPECT_EQ(p->For("oci", "/srv/trusted").scope, "/srv/trusted");
  EXPECT_EQ(p->For("oci", "/srv/other").scope, "default");
  EXPECT_EQ(p->For("docker-archive", "/x.tar").scope, "default");
  const auto* team = p->For("docker", "registry.example.com/team/app:2").requirements;
  ASSERT_EQ(team->size(), 1u);
  EXPECT_EQ((*team)[0].type, Requirement::Type::kSigstoreSigned);
  EXPECT_EQ((*team)[0].public_keys[0], pair_.public_pem);
}

TEST_F(PolicyTest, KeyDataAndBadPolicies) {
  std::string data = absl::Base64Escape(pair_.public_pem);
  EXPECT_TRUE(
      Parse(R"({"default": [{"type": "sigstoreSigned", "keyData": ")" + data + R"("}]})").ok());
  for (const std::string& bad : {
           std::string("{"),
           std::string(R"({"transports": {}})"),
           std::string(R"({"default": []})"),
           std::string(R"({"default": [{"type": "maybe"}]})"),
           std::string(R"({"default": [{"type": "signedBy", "keyType": "GPGKeys"}]})"),
           std::string(R"({"default": [{"type": "sigstoreSigned"}]})"),
           std::string(R"({"default": [{"type": "sigstoreSigned", "keyPath": "missing.pub"}]})"),
           std::string(R"({"default": [{"type": "sigstoreSigned", "keyData": "!!"}]})"),
           std::string(R"({"default": [{"type": "sigstoreSigned", "fulcio": {}}]})"),
           std::string(R"({"default": [{"type": "sigstoreSigned", "keyPath": "team.pub",
                          "signedIdentity": {"type": "exactReference"}}]})"),
           std::string(R"({"default": [{"type": "reject"}], "transports": {"docker": []}})"),
           std::string(kMaxPolicySize + 1, ' '),
       }) {
    EXPECT_FALSE(Parse(bad).ok()) << bad.substr(0, 100);
  }
}

TEST(IdentityTest, EachTypeAsContainersImageHasIt) {
  using T = SignedIdentity::Type;
  const std::string digest = "@sha256:" + std::string(64, 'c');
  SignedIdentity id;
  id.type = T::kMatchRepoDigestOrExact;
  EXPECT_TRUE(IdentityMatches(id, Ref("r.io/a/b" + digest), "r.io/a/b"));
  EXPECT_FALSE(IdentityMatches(id, Ref("r.io/a/b" + digest), "r.io/a/c"));
  EXPECT_TRUE(IdentityMatches(id, Ref("r.io/a/b:1"), "r.io/a/b:1"));
  EXPECT_FALSE(IdentityMatches(id, Ref("r.io/a/b:1"), "r.io/a/b"));  // cosign's repo-only claim
  id.type = T::kMatchRepository;
  EXPECT_TRUE(IdentityMatches(id, Ref("r.io/a/b:1"), "r.io/a/b"));
  EXPECT_TRUE(IdentityMatches(id, Ref("busybox"), "docker.io/library/busybox"));
  EXPECT_FALSE(IdentityMatches(id, Ref("r.io/a/b:1"), "r.io/a/bb"));
  id.type = T::kMatchExact;
  EXPECT_FALSE(IdentityMatches(id, Ref("r.io/a/b" + digest), "r.io/a/b"));
  EXPECT_TRUE(IdentityMatches(id, Ref("r.io/a/b:2"), "r.io/a/b:2"));
  id.type = T::kExactRepository;
  id.docker_repository = "signer.io/official/b";
  EXPECT_TRUE(IdentityMatches(id, Ref("mirror.io/b:1"), "signer.io/official/b"));
  EXPECT_FALSE(IdentityMatches(id, Ref("mirror.io/b:1"), "mirror.io/b"));
  id.type = T::kExactReference;
  id.docker_reference = "signer.io/official/b:7";
  EXPECT_TRUE(IdentityMatches(id, Ref("x.io/y:1"), "signer.io/official/b:7"));
  EXPECT_FALSE(IdentityMatches(id, Ref("x.io/y:1"), "signer.io/official/b:8"));
  id.type = T::kRemapIdentity;
  id.prefix = "mirror.io/hub";
  id.signed_prefix = "docker.io/library";
  EXPECT_TRUE(
      IdentityMatches(id, Ref("mirror.io/hub/busybox" + digest), "docker.io/library/busybox"));
  EXPECT_FALSE(
      IdentityMatches(id, Ref("mirror.io/hubx/busybox" + digest), "docker.io/library/busybox"));
  EXPECT_FALSE(IdentityMatches(id, Ref("r.io/a/b:1"), "not a reference!"));
}

}  // namespace
}  // namespace kiln::trust
