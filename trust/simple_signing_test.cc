#include "trust/simple_signing.h"

#include <string>

#include "gtest/gtest.h"

namespace kiln::trust {
namespace {

const std::string kHex(64, 'b');

TEST(SimpleSigningTest, PayloadIsCosignsBytes) {
  SimpleSigning s;
  s.docker_reference = "registry.example/team/app";
  s.manifest_digest = *oci::Digest::Parse("sha256:" + kHex);
  EXPECT_EQ(EncodePayload(s),
            R"({"critical":{"identity":{"docker-reference":"registry.example/team/app"},)"
            R"("image":{"docker-manifest-digest":"sha256:)" +
                kHex + R"("},"type":"cosign container image signature"},"optional":null})");
  s.optional["commit"] = "abc";
  auto back = ParsePayload(EncodePayload(s));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->docker_reference, s.docker_reference);
  EXPECT_EQ(back->manifest_digest, s.manifest_digest);
  EXPECT_EQ(back->optional.at("commit"), "abc");
  EXPECT_EQ(SignatureTag(s.manifest_digest), "sha256-" + kHex + ".sig");
}

TEST(SimpleSigningTest, BadPayloadsAreRefused) {
  for (const std::string& bad : {
           std::string("{"),
           std::string("[]"),
           std::string(R"({"critical":{"type":"other"}})"),
           std::string(R"({"critical":{"type":"cosign container image signature",)"
                       R"("identity":{"docker-reference":1},"image":{}}})"),
           std::string(R"({"critical":{"type":"cosign container image signature",)"
                       R"("identity":{"docker-reference":"r/a"},)"
                       R"("image":{"docker-manifest-digest":"sha256:short"}}})"),
           std::string(kMaxPayloadSize + 1, ' '),
       }) {
    EXPECT_FALSE(ParsePayload(bad).ok()) << bad.substr(0, 80);
  }
}

TEST(SimpleSigningTest, ManifestsCarryEverySignature) {
  std::vector<SignatureLayer> layers(2);
  for (int i = 0; i < 2; ++i) {
    std::string payload = "payload" + std::to_string(i);
    layers[i].payload.digest = oci::Digest::Of(payload);
    layers[i].payload.size = static_cast<int64_t>(payload.size());
    layers[i].signature = "sig" + std::to_string(i);
  }
  SignatureManifest sm = MakeSignatureManifest(layers);
  auto m = oci::Manifest::Parse(sm.manifest);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->config.digest, oci::Digest::Of(sm.config));
  auto back = SignatureLayers(*m);
  ASSERT_TRUE(back.ok()) << back.status();
  ASSERT_EQ(back->size(), 2u);
  EXPECT_EQ((*back)[1].signature, "sig1");
  EXPECT_EQ((*back)[0].payload.annotations.at(kSignatureAnnotation), "c2lnMA==");
  EXPECT_NE(sm.config.find(layers[1].payload.digest.str()), std::string::npos);

  oci::Manifest none = *m;
  none.layers.clear();
  EXPECT_TRUE(absl::IsNotFound(SignatureLayers(none).status()));
  none.layers = m->layers;
  none.layers[0].annotations[kSignatureAnnotation] = "!!";
  EXPECT_FALSE(SignatureLayers(none).ok());
}

}  // namespace
}  // namespace kiln::trust
