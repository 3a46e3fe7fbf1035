#include "oci/manifest.h"

#include "gtest/gtest.h"
#include "oci/json_util.h"
#include "oci/media_types.h"

namespace kiln::oci {
namespace {

constexpr char kDockerManifestJson[] = R"({
  "schemaVersion": 2,
  "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
  "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 1469,
    "digest": "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
  "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": 2,
    "digest": "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"}]
})";

TEST(ManifestTest, ParsesDockerSchema2) {
  auto m = Manifest::Parse(kDockerManifestJson);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->media_type, kDockerManifest);
  EXPECT_EQ(m->config.size, 1469);
  ASSERT_EQ(m->layers.size(), 1u);
  EXPECT_EQ(m->layers[0].media_type, kDockerLayerGzip);
}

TEST(ManifestTest, SerializeRoundTrip) {
  Manifest m;
  m.config.media_type = kOciConfig;
  m.config.digest = Digest::Of("config");
  m.config.size = 6;
  Descriptor layer;
  layer.media_type = kOciLayerGzip;
  layer.digest = Digest::Of("layer");
  layer.size = 5;
  layer.annotations["k"] = "v";
  m.layers.push_back(layer);
  m.annotations["org.opencontainers.image.title"] = "t";
  std::string bytes = m.Serialize();
  auto back = Manifest::Parse(bytes);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->Serialize(), bytes);
  EXPECT_EQ(*DetectManifestMediaType(bytes), kOciManifest);
}

TEST(ManifestTest, DetectsByShapeWithoutMediaType) {
  EXPECT_EQ(*DetectManifestMediaType(R"({"schemaVersion":2,"manifests":[]})"), kOciIndex);
}

TEST(ManifestTest, RejectsSchema1WithClearMessage) {
  auto s = DetectManifestMediaType(R"({"schemaVersion":1,"name":"x","fsLayers":[]})").status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("schema 1"), absl::string_view::npos) << s;
}

TEST(ManifestTest, RejectsBadDescriptors) {
  EXPECT_EQ(
      Manifest::Parse(
          R"({"schemaVersion":2,"config":{"mediaType":"x","size":-1,)"
          R"("digest":"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"}})")
          .status()
          .message(),
      "manifest: config: descriptor: negative size");
  EXPECT_FALSE(Manifest::Parse(R"({"schemaVersion":2,"config":{"digest":"sha256:../x"}})").ok());
  EXPECT_FALSE(Manifest::Parse(R"({"schemaVersion":2,"config":{},"layers":{}})").ok());
  EXPECT_FALSE(Manifest::Parse("not json").ok());
  EXPECT_FALSE(Manifest::Parse("[]").ok());
}

TEST(ManifestTest, RejectsOversizedAndDeepDocuments) {
  std::string big = R"({"schemaVersion":2,"x":")" + std::string(kMaxManifestSize, 'a') + "\"}";
  EXPECT_FALSE(DetectManifestMediaType(big).ok());
  std::string deep =
      R"({"schemaVersion":2,"x":)" + std::string(1000, '[') + std::string(1000, ']') + "}";
  EXPECT_FALSE(DetectManifestMediaType(deep).ok());
}

TEST(IndexTest, ParsesPlatforms) {
  auto idx = Index::Parse(R"({"schemaVersion":2,
    "mediaType":"application/vnd.docker.distribution.manifest.list.v2+json",
    "manifests":[{"mediaType":"application/vnd.docker.distribution.manifest.v2+json","size":7,
      "digest":"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
      "platform":{"architecture":"arm","os":"linux","variant":"v7"}}]})");
  ASSERT_TRUE(idx.ok()) << idx.status();
  ASSERT_EQ(idx->manifests.size(), 1u);
  EXPECT_EQ(idx->manifests[0].platform->str(), "linux/arm/v7");
  EXPECT_FALSE(Index::Parse(kDockerManifestJson).ok());
}

}  // namespace
}  // namespace kiln::oci
