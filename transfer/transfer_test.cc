// Copies between every pair of transports keep digests (docker-archive re-describes layers
// but keeps their content) and fail cleanly on damaged input.
#include <fstream>

#include "base/file_util.h"
#include "gtest/gtest.h"
#include "layers/image_commit.h"
#include "layers/layer_writer.h"
#include "oci/image_config.h"
#include "oci/media_types.h"
#include "transfer/transports.h"

namespace kiln::transfer {

using layers::CommitImage;
using layers::CopyImage;
using layers::CopyOptions;
using layers::CreateLayer;
using layers::LayerOptions;
using layers::LoadImage;
using layers::OciLayout;
using layers::Store;
namespace {

class TransferTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = TempDir::Create("/tmp/kiln-transfer-");
    ASSERT_TRUE(dir.ok());
    dir_.emplace(std::move(*dir));
    auto store = Store::Open(P("store"));
    ASSERT_TRUE(store.ok());
    store_ = std::move(*store);
    image_ = MakeImage("hello", "amd64");
    ASSERT_TRUE(store_->Tag("app:1", image_).ok());
  }
  std::string P(const std::string& rel) { return dir_->path() + "/" + rel; }

  oci::Descriptor MakeImage(const std::string& content, const std::string& arch) {
    std::string tree = P("tree-" + content + arch);
    EXPECT_TRUE(MakeDirs(tree + "/etc").ok());
    EXPECT_TRUE(WriteFileAtomic(tree + "/etc/motd", content).ok());
    LayerOptions options;
    options.tar.source_date_epoch = 0;
    auto layer = CreateLayer(tree, options, store_->blobs());
    EXPECT_TRUE(layer.ok());
    oci::ImageConfig config;
    config.os = "linux";
    config.architecture = arch;
    config.diff_ids = {layer->diff_id};
    return *CommitImage(store_->blobs(), config, {layer->descriptor});
  }

  absl::StatusOr<oci::ManifestData> Copy(const std::string& from, const std::string& to,
                                         CopyOptions options = {}) {
    auto src_loc = ParseImageLocation(from);
    auto dst_loc = ParseImageLocation(to);
    if (!src_loc.ok()) return src_loc.status();
    if (!dst_loc.ok()) return dst_loc.status();
    auto src = OpenImageSource(*src_loc, store_.get());
    if (!src.ok()) return src.status();
    auto dst = OpenImageDestination(*dst_loc, store_.get());
    if (!dst.ok()) return dst.status();
    return CopyImage(**src, **dst, options);
  }

  std::optional<TempDir> dir_;
  std::unique_ptr<Store> store_;
  oci::Descriptor image_;
};

TEST_F(TransferTest, LayoutAndOciArchiveRoundTripsKeepDigests) {
  auto a = Copy("app:1", "oci:" + P("layout") + ":v1");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->digest, image_.digest);
  EXPECT_FALSE(PathExists(P("layout/ingest")));
  auto b = Copy("oci:" + P("layout") + ":v1", "oci-archive:" + P("img.tar") + ":v1");
  ASSERT_TRUE(b.ok()) << b.status();
  auto c = Copy("oci-archive:" + P("img.tar"), "back:1");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(store_->Resolve("back:1")->digest, image_.digest);
}

TEST_F(TransferTest, DockerArchiveRoundTripKeepsContent) {
  ASSERT_TRUE(Copy("app:1", "docker-archive:" + P("d.tar") + ":app:1").ok());
  auto back = Copy("docker-archive:" + P("d.tar") + ":app:1", "fromdocker:1");
  ASSERT_TRUE(back.ok()) << back.status();
  auto src = OpenImageSource(*ParseImageLocation("fromdocker:1"), store_.get());
  auto image = LoadImage(**src, oci::Platform::Host());
  ASSERT_TRUE(image.ok()) << image.status();
  // The archive carries the image's own manifest (its OCI view): the same image comes back,
  // layers as they were stored.
  auto orig = LoadImage(**OpenImageSource(*ParseImageLocation("app:1"), store_.get()),
                        oci::Platform::Host());
  ASSERT_TRUE(orig.ok()) << orig.status();
  EXPECT_EQ(image->config_bytes, orig->config_bytes);
  EXPECT_EQ(image->manifest.digest, orig->manifest.digest);
  EXPECT_EQ(image->parsed.layers[0].media_type, orig->parsed.layers[0].media_type);
  EXPECT_EQ(image->parsed.layers[0].digest, orig->parsed.layers[0].digest);
  // By position, and an unknown name.
  EXPECT_TRUE(Copy("docker-archive:" + P("d.tar") + ":@0", "pos:1").ok());
  EXPECT_TRUE(absl::IsNotFound(Copy("docker-archive:" + P("d.tar") + ":other:1", "x").status()));
}

TEST_F(TransferTest, IndexCopiedWholeOrByPlatform) {
  oci::Descriptor arm = MakeImage("arm", "arm64");
  oci::Index index;
  index.media_type = oci::kOciIndex;
  oci::Descriptor amd_entry = image_;
  amd_entry.platform = oci::Platform{"linux", "amd64"};
  oci::Descriptor arm_entry = arm;
  arm_entry.platform = oci::Platform{"linux", "arm64"};
  index.manifests = {amd_entry, arm_entry};
  std::string bytes = index.Serialize();
  oci::Descriptor top{oci::kOciIndex, *store_->blobs().Put(bytes),
                      static_cast<int64_t>(bytes.size())};
  ASSERT_TRUE(store_->Tag("multi:1", top).ok());

  auto whole = Copy("multi:1", "oci:" + P("multi"));
  ASSERT_TRUE(whole.ok()) << whole.status();
  EXPECT_EQ(whole->digest, top.digest);
  CopyOptions options;
  options.platform = oci::Platform{"linux", "arm64"};
  auto one = Copy("multi:1", "oci:" + P("one") + ":arm", options);
  ASSERT_TRUE(one.ok()) << one.status();
  EXPECT_EQ(one->digest, arm.digest);
  options.platform = oci::Platform{"linux", "s390x"};
  auto none = Copy("multi:1", "oci:" + P("none") + ":x", options);
  EXPECT_TRUE(absl::IsNotFound(none.status()));
  EXPECT_NE(none.status().message().find("linux/amd64, linux/arm64"), std::string::npos)
      << none.status();
}

TEST_F(TransferTest, CorruptSourceBlobFailsAndNamesNothing) {
  ASSERT_TRUE(Copy("app:1", "oci:" + P("src") + ":v1").ok());
  auto m = oci::Manifest::Parse(*store_->blobs().ReadAll(image_.digest, 1 << 20));
  std::string layer_path = P("src/blobs/sha256/" + m->layers[0].digest.hex());
  std::string bytes = *ReadFile(layer_path, 1 << 30);
  bytes[bytes.size() / 2] ^= 1;
  ASSERT_TRUE(WriteFileAtomic(layer_path, bytes).ok());
  // Empty the store so the layer has to come from the damaged source.
  ASSERT_TRUE(store_->Untag("app:1").ok());
  ASSERT_TRUE(store_->Gc().ok());
  auto copied = Copy("oci:" + P("src") + ":v1", "victim:1");
  EXPECT_EQ(copied.status().code(), absl::StatusCode::kDataLoss) << copied.status();
  EXPECT_TRUE(absl::IsNotFound(store_->Resolve("victim:1").status()));
  auto dst = Copy("oci:" + P("src") + ":v1", "oci:" + P("dst") + ":v1");
  EXPECT_FALSE(dst.ok());
  auto layout = OciLayout::Open(P("dst"), false);
  ASSERT_TRUE(layout.ok());
  EXPECT_TRUE((*layout)->ReadIndex()->manifests.empty());
}

TEST_F(TransferTest, BadLocations) {
  auto reg = ParseImageLocation("docker://busybox");
  ASSERT_TRUE(reg.ok());
  EXPECT_EQ(reg->transport, Transport::kRegistry);
  EXPECT_EQ(reg->name, "docker.io/library/busybox:latest");
  EXPECT_EQ(reg->String(), "docker://docker.io/library/busybox:latest");
  EXPECT_FALSE(ParseImageLocation("docker://Bad Name").ok());
  EXPECT_EQ(ParseImageLocation("dir:/tmp/x").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(ParseImageLocation("oci:").ok());
  auto loc = ParseImageLocation("oci:/a/b:c:d");
  ASSERT_TRUE(loc.ok());
  EXPECT_EQ(loc->path, "/a/b");
  EXPECT_EQ(loc->name, "c:d");
  EXPECT_EQ(ParseImageLocation("localhost:5000/x:1")->transport, Transport::kStore);
  EXPECT_TRUE(absl::IsNotFound(Copy("oci:" + P("nothing"), "x").status()));
  ASSERT_TRUE(WriteFileAtomic(P("notatar"), "junk junk junk").ok());
  EXPECT_FALSE(Copy("oci-archive:" + P("notatar"), "x").ok());
  EXPECT_FALSE(Copy("docker-archive:" + P("notatar"), "x").ok());
}

}  // namespace
}  // namespace kiln::transfer
