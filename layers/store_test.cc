#include "layers/store.h"

#include <fstream>
#include <thread>

#include "base/file_util.h"
#include "gtest/gtest.h"
#include "layers/image_commit.h"
#include "layers/layer_writer.h"
#include "nlohmann/json.hpp"
#include "oci/image_config.h"
#include "oci/manifest.h"
#include "oci/media_types.h"

namespace kiln::layers {
namespace {

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = TempDir::Create("/tmp/kiln-store-");
    ASSERT_TRUE(dir.ok());
    dir_.emplace(std::move(*dir));
    auto store = Store::Open(dir_->path() + "/root");
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
  }

  // A one-layer image whose layer holds `content`; returns the manifest descriptor.
  oci::Descriptor MakeImage(const std::string& content) {
    std::string tree = dir_->path() + "/tree-" + content;
    EXPECT_TRUE(MakeDirs(tree).ok());
    EXPECT_TRUE(WriteFileAtomic(tree + "/file", content).ok());
    LayerOptions options;
    options.tar.source_date_epoch = 0;
    auto layer = CreateLayer(tree, options, store_->blobs());
    EXPECT_TRUE(layer.ok());
    oci::ImageConfig config;
    config.os = "linux";
    config.architecture = "amd64";
    config.diff_ids = {layer->diff_id};
    return *CommitImage(store_->blobs(), config, {layer->descriptor});
  }

  void Corrupt(const oci::Digest& d) {
    std::ofstream f(store_->blobs().PathOf(d), std::ios::binary | std::ios::app);
    f << "!";
  }

  std::optional<TempDir> dir_;
  std::unique_ptr<Store> store_;
};

TEST_F(StoreTest, RootIsAnOciLayout) {
  EXPECT_EQ(*ReadFile(store_->root() + "/oci-layout", 100), R"({"imageLayoutVersion":"1.0.0"})");
  auto index = store_->layout().ReadIndex();
  ASSERT_TRUE(index.ok());
  EXPECT_TRUE(index->manifests.empty());
}

TEST_F(StoreTest, NamesAreNormalized) {
  oci::Descriptor d = MakeImage("a");
  ASSERT_TRUE(store_->Tag("app", d).ok());
  ASSERT_TRUE(store_->Tag("docker.io/library/app:2", d).ok());
  EXPECT_EQ(store_->Resolve("app:latest")->digest, d.digest);
  EXPECT_EQ(store_->Resolve("docker.io/library/app")->digest, d.digest);
  EXPECT_EQ(store_->Resolve("app:2")->digest, d.digest);
  EXPECT_EQ(store_->Resolve(d.digest.hex().substr(0, 12))->digest, d.digest);
  EXPECT_EQ(store_->Resolve(d.digest.str())->digest, d.digest);
  EXPECT_EQ(store_->Resolve("app@" + d.digest.str())->digest, d.digest);
  auto list = store_->List();
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].first, "app:2");
  EXPECT_EQ((*list)[1].first, "app:latest");
  EXPECT_TRUE(absl::IsNotFound(store_->Resolve("nope").status()));
  EXPECT_EQ(store_->Tag("Bad Name", d).code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(StoreTest, DigestNamesOnlyForTheirDigest) {
  oci::Descriptor d = MakeImage("a");
  oci::Descriptor other = MakeImage("b");
  // What a pull by digest keeps: the repository and the digest (a tag beside it dropped).
  ASSERT_TRUE(store_->Tag("docker.io/library/app:1@" + d.digest.str(), d).ok());
  EXPECT_EQ(store_->Resolve("app@" + d.digest.str())->digest, d.digest);
  auto list = store_->List();
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0].first, "app@" + d.digest.str());
  EXPECT_EQ(store_->Tag("app@" + d.digest.str(), other).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(layers::Store::CanonicalName("app@" + d.digest.str()).ok());
  EXPECT_TRUE(store_->Untag("app@" + d.digest.str()).ok());
  EXPECT_TRUE(store_->List()->empty());
}

TEST_F(StoreTest, RetagReplacesAndUntagRemoves) {
  oci::Descriptor a = MakeImage("a");
  oci::Descriptor b = MakeImage("b");
  ASSERT_TRUE(store_->Tag("x:1", a).ok());
  ASSERT_TRUE(store_->Tag("x:1", b).ok());
  EXPECT_EQ(store_->Resolve("x:1")->digest, b.digest);
  EXPECT_EQ(store_->List()->size(), 1u);
  ASSERT_TRUE(store_->Untag("x:1").ok());
  EXPECT_TRUE(absl::IsNotFound(store_->Untag("x:1")));
}

TEST_F(StoreTest, ConcurrentTagsAreNotLost) {
  oci::Descriptor d = MakeImage("a");
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      auto store = Store::Open(store_->root());  // as separate processes would
      for (int i = 0; i < 10; ++i) {
        EXPECT_TRUE((*store)->Tag("t" + std::to_string(t) + ":" + std::to_string(i), d).ok());
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(store_->List()->size(), 40u);
}

TEST_F(StoreTest, GcKeepsReachableRemovesTheRest) {
  oci::Descriptor kept = MakeImage("kept");
  oci::Descriptor dropped = MakeImage("dropped");
  ASSERT_TRUE(store_->Tag("kept", kept).ok());
  ASSERT_TRUE(store_->Tag("dropped", dropped).ok());
  ASSERT_TRUE(store_->Untag("dropped").ok());
  ASSERT_TRUE(MakeDirs(store_->root() + "/run/build-dead/step-1/upper").ok());
  auto stats = store_->Gc();
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_FALSE(PathExists(store_->root() + "/run"));
  EXPECT_EQ(stats->removed_blobs, 3u);  // manifest, config, layer of "dropped"
  EXPECT_EQ(stats->kept_blobs, 3u);
  EXPECT_FALSE(store_->blobs().Has(dropped.digest));
  EXPECT_TRUE(store_->blobs().Has(kept.digest));
  auto report = store_->Fsck();
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(report->problems.empty());
}

TEST_F(StoreTest, GcKeepsTheBuildCacheUnlessAskedToDropIt) {
  oci::Descriptor kept = MakeImage("kept");
  oci::Descriptor cached = MakeImage("cached");  // unnamed, but a cache record names its layer
  oci::Descriptor dropped = MakeImage("dropped");
  ASSERT_TRUE(store_->Tag("kept", kept).ok());
  auto layer_of = [&](const oci::Descriptor& image) {
    auto m = oci::Manifest::Parse(*store_->blobs().ReadAll(image.digest, 1 << 20));
    auto c = oci::ImageConfig::Parse(*store_->blobs().ReadAll(m->config.digest, 1 << 20));
    return std::make_pair(m->layers[0], *c);
  };
  auto [kept_layer, kept_config] = layer_of(kept);
  auto [cached_layer, cached_config] = layer_of(cached);
  auto [dropped_layer, dropped_config] = layer_of(dropped);
  const std::string snaps = store_->root() + "/snapshots/";
  for (const oci::ImageConfig* c : {&kept_config, &cached_config, &dropped_config}) {
    ASSERT_TRUE(MakeDirs(snaps + c->diff_ids[0].hex() + "/etc").ok());
  }
  ASSERT_TRUE(MakeDirs(snaps + ".tmp-123").ok());
  const std::string cache = store_->root() + "/cache/";
  ASSERT_TRUE(MakeDirs(cache).ok());
  auto record = [](const oci::Descriptor& layer, const oci::ImageConfig& config) {
    return nlohmann::json({{"config", config.Serialize()}, {"layers", {layer.ToJson()}}}).dump();
  };
  ASSERT_TRUE(WriteFileAtomic(cache + "k.json", record(kept_layer, kept_config)).ok());
  ASSERT_TRUE(WriteFileAtomic(cache + "c.json", record(cached_layer, cached_config)).ok());
  ASSERT_TRUE(WriteFileAtomic(cache + "junk.json", "not json").ok());

  auto stats = store_->Gc();
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(stats->removed_cache_records, 1u);  // the unreadable one
  EXPECT_EQ(stats->removed_snapshots, 1u);      // the dropped image's
  EXPECT_TRUE(store_->blobs().Has(cached_layer.digest));
  EXPECT_FALSE(store_->blobs().Has(dropped_layer.digest));
  EXPECT_TRUE(PathExists(snaps + cached_config.diff_ids[0].hex()));
  EXPECT_FALSE(PathExists(snaps + dropped_config.diff_ids[0].hex()));
  EXPECT_FALSE(PathExists(snaps + ".tmp-123"));
  EXPECT_TRUE(PathExists(cache + "c.json"));
  EXPECT_FALSE(PathExists(cache + "junk.json"));

  ASSERT_TRUE(MakeDirs(store_->root() + "/cache-mounts/abc").ok());
  ASSERT_TRUE(store_->Gc().ok());
  EXPECT_TRUE(PathExists(store_->root() + "/cache-mounts/abc"));
  stats = store_->Gc(/*drop_build_cache=*/true);
  EXPECT_FALSE(PathExists(store_->root() + "/cache-mounts"));
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(stats->removed_cache_records, 2u);
  EXPECT_FALSE(store_->blobs().Has(cached_layer.digest));
  EXPECT_TRUE(store_->blobs().Has(kept_layer.digest));
  EXPECT_FALSE(PathExists(snaps + cached_config.diff_ids[0].hex()));
  EXPECT_TRUE(PathExists(snaps + kept_config.diff_ids[0].hex()));
}

TEST_F(StoreTest, FsckFindsEveryKindOfDamage) {
  oci::Descriptor d = MakeImage("a");
  ASSERT_TRUE(store_->Tag("a", d).ok());
  auto sound = store_->Fsck();
  ASSERT_TRUE(sound.ok());
  EXPECT_TRUE(sound->problems.empty());
  EXPECT_EQ(sound->blobs_checked, 3u);

  // Every blob of the image, corrupted in turn, is reported.
  auto manifest = oci::Manifest::Parse(*store_->blobs().ReadAll(d.digest, 1 << 20));
  for (const oci::Digest& victim :
       {manifest->layers[0].digest, manifest->config.digest, d.digest}) {
    std::string original = *ReadFile(store_->blobs().PathOf(victim), 1 << 20);
    Corrupt(victim);
    auto report = store_->Fsck();
    ASSERT_TRUE(report.ok());
    ASSERT_FALSE(report->problems.empty()) << victim.str();
    EXPECT_NE(report->problems[0].find(victim.str()), std::string::npos) << report->problems[0];
    ASSERT_TRUE(WriteFileAtomic(store_->blobs().PathOf(victim), original).ok());
  }
  // A missing layer is reported too.
  ASSERT_TRUE(store_->blobs().Remove(manifest->layers[0].digest).ok());
  auto report = store_->Fsck();
  ASSERT_FALSE(report->problems.empty());
  EXPECT_NE(report->problems[0].find("missing"), std::string::npos) << report->problems[0];
  // A layer with origins is remote, not missing; a config or manifest never is.
  store_->RecordOrigins(manifest->layers[0].digest, {"r.test/cache"});
  report = store_->Fsck();
  EXPECT_TRUE(report->problems.empty()) << report->problems[0];
  EXPECT_EQ(report->remote_blobs, 1u);
  store_->RecordOrigins(manifest->config.digest, {"r.test/cache"});
  ASSERT_TRUE(store_->blobs().Remove(manifest->config.digest).ok());
  report = store_->Fsck();
  ASSERT_FALSE(report->problems.empty());
}

TEST_F(StoreTest, DefaultRootFollowsEnvironment) {
  ::setenv("KILN_ROOT", "/somewhere/kiln", 1);
  EXPECT_EQ(Store::DefaultRoot(), "/somewhere/kiln");
  ::unsetenv("KILN_ROOT");
  if (::geteuid() == 0) EXPECT_EQ(Store::DefaultRoot(), "/var/lib/kiln");
}

TEST_F(StoreTest, OriginsAreKeptOnceEachNewestLastAndGoWithTheirBlob) {
  oci::Descriptor image = MakeImage("o");
  oci::Digest d = image.digest;
  EXPECT_TRUE(store_->Origins(d).empty());
  store_->RecordOrigins(d, {"r.test/a", "r.test/b"});
  store_->RecordOrigins(d, {"r.test/a", "r.test/c"});
  EXPECT_EQ(store_->Origins(d), (std::vector<std::string>{"r.test/a", "r.test/b", "r.test/c"}));
  std::vector<std::string> many;
  for (int i = 0; i < 20; ++i) many.push_back("r.test/n" + std::to_string(i));
  store_->RecordOrigins(d, many);
  ASSERT_EQ(store_->Origins(d).size(), 16u);
  EXPECT_EQ(store_->Origins(d).back(), "r.test/n19");
  // The image is not named: gc removes its blobs and what was known of where they came from.
  ASSERT_TRUE(store_->Gc().ok());
  EXPECT_TRUE(store_->Origins(d).empty());
}

TEST_F(StoreTest, BuildStateLivesBesideTheLayout) {
  absl::StatusOr<std::string> run = store_->RunDir();
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_EQ(*run, store_->root() + "/run");
  EXPECT_TRUE(PathExists(*run));
  EXPECT_EQ(store_->CacheMountDir("ab12"), store_->root() + "/cache-mounts/ab12");
  EXPECT_EQ(store_->FileDigestsPath(), store_->root() + "/file-digests");
}

}  // namespace
}  // namespace kiln::layers
