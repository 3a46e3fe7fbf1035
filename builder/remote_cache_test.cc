#include "builder/remote_cache.h"

#include "base/file_util.h"
#include "gtest/gtest.h"
#include "layers/oci_layout.h"
#include "oci/media_types.h"

namespace kiln::builder {
namespace {

TEST(CacheSpecTest, BuildKitSyntax) {
  auto r = ParseCacheSpec("type=registry,ref=127.0.0.1:5000/app:cache,mode=max", true);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->location.transport, transfer::Transport::kRegistry);
  EXPECT_EQ(r->location.name, "127.0.0.1:5000/app:cache");
  EXPECT_TRUE(r->max);
  auto bare = ParseCacheSpec("127.0.0.1:5000/app:cache", false);
  ASSERT_TRUE(bare.ok()) << bare.status();
  EXPECT_EQ(bare->location.transport, transfer::Transport::kRegistry);
  EXPECT_FALSE(bare->max);
  auto local = ParseCacheSpec("type=local,dest=/tmp/c,compression=zstd,ignore-error=true", true);
  ASSERT_TRUE(local.ok()) << local.status();
  EXPECT_EQ(local->location.transport, transfer::Transport::kOciLayout);
  EXPECT_EQ(local->location.path, "/tmp/c");
  EXPECT_EQ(local->location.name, "latest");
  EXPECT_EQ(local->compression, layers::Compression::kZstd);
  EXPECT_TRUE(local->ignore_error);
  auto src = ParseCacheSpec("type=local,src=/tmp/c,tag=v2", false);
  ASSERT_TRUE(src.ok()) << src.status();
  EXPECT_EQ(src->location.name, "v2");
  for (const auto& [text, to] : std::vector<std::pair<std::string, bool>>{
           {"type=registry", true},
           {"type=registry,ref=Bad Ref", false},
           {"type=local,src=/x", true},  // exports need dest=
           {"type=local,dest=/x", false},
           {"type=gha,ref=x", true},
           {"type=registry,ref=r/x,mode=all", true},
           {"type=registry,ref=r/x,compression=none", true},
           {"type=registry,ref=r/x,image-manifest=false", true},
           {"type=registry,ref=r/x,colour=blue", true},
           {"type=registry,ref=r/x,ref=r/y", true},
           {"type=registry,ref=r/x,mode=max", false},  // mode is for exports
       }) {
    EXPECT_FALSE(ParseCacheSpec(text, to).ok()) << text;
  }
}

class RemoteCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = TempDir::Create("/tmp/kiln-remote-cache-");
    ASSERT_TRUE(dir.ok());
    dir_.emplace(std::move(*dir));
    auto a = layers::Store::Open(dir_->path() + "/a");
    auto b = layers::Store::Open(dir_->path() + "/b");
    ASSERT_TRUE(a.ok() && b.ok());
    a_ = std::move(*a);
    b_ = std::move(*b);
  }
  std::string Dir() const { return dir_->path(); }
  std::vector<std::string> warnings_;
  RemoteCache::WarnFn Warn() {
    return [this](const std::string& w) { warnings_.push_back(w); };
  }
  CacheSpec Local(const std::string& dir, bool to) {
    auto spec = ParseCacheSpec(absl::StrCat("type=local,", to ? "dest=" : "src=", dir), to);
    EXPECT_TRUE(spec.ok());
    return *spec;
  }
  // A link record of one layer with `content`, the blob put in A's store.
  layers::CacheRecord LinkIn(const std::string& content) {
    auto digest = a_->blobs().Put(content);
    EXPECT_TRUE(digest.ok());
    layers::CacheRecord link;
    link.kind = layers::CacheRecord::Kind::kLink;
    link.layers = {{oci::kOciLayerGzip, *digest, static_cast<int64_t>(content.size())}};
    link.diff_ids = {oci::Digest::Of("tar")};
    return link;
  }
  std::optional<TempDir> dir_;
  std::unique_ptr<layers::Store> a_, b_;
};

TEST_F(RemoteCacheTest, AnotherStoreReadsTheRecordsAndFetchesBlobsWhenAsked) {
  layers::CacheRecord link = LinkIn("the bytes of a layer");
  const oci::Digest digest = link.layers[0].digest;
  const std::string name = "link-" + std::string(64, '1');
  RemoteCache exporter(a_.get(), {});
  ASSERT_TRUE(exporter.Export({{name, link}}, Local(Dir() + "/cache", true)).ok());

  RemoteCache importer(b_.get(), {});
  importer.Import({Local(Dir() + "/cache", false)}, Warn());
  EXPECT_TRUE(warnings_.empty());
  ASSERT_EQ(importer.size(), 1u);
  std::optional<layers::CacheRecord> got = importer.Read(name);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->layers[0].digest, digest);
  EXPECT_TRUE(importer.HasBlob(got->layers[0]));
  EXPECT_FALSE(b_->blobs().Has(digest));  // not until asked
  ASSERT_TRUE(importer.Fetch(got->layers).ok());
  EXPECT_TRUE(b_->blobs().Has(digest));
  EXPECT_FALSE(importer.Read(std::string(64, '2')).has_value());

  // B exports the record again without the blob in its store: it comes from A's cache.
  ASSERT_TRUE(b_->blobs().Remove(digest).ok());
  ASSERT_TRUE(importer.Export({{name, link}}, Local(Dir() + "/again", true)).ok());
  auto again = layers::OciLayout::Open(Dir() + "/again", false);
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE((*again)->blobs().Has(digest));
}

TEST_F(RemoteCacheTest, WhatIsNotACacheIsSkippedWithAWarning) {
  auto layout = layers::OciLayout::Open(Dir() + "/hostile", true);
  ASSERT_TRUE(layout.ok());
  auto put_manifest = [&](const std::string& tag, const std::string& config_type,
                          const std::string& config, int64_t size = -1) {
    auto d = (*layout)->blobs().Put(config);
    ASSERT_TRUE(d.ok());
    oci::Manifest m;
    m.config = {config_type, *d, size >= 0 ? size : static_cast<int64_t>(config.size())};
    auto md = (*layout)->blobs().Put(m.Serialize());
    ASSERT_TRUE(md.ok());
    ASSERT_TRUE((*layout)
                    ->Tag(tag, {oci::kOciManifest, *md, static_cast<int64_t>(m.Serialize().size())})
                    .ok());
  };
  put_manifest("image", oci::kOciConfig, R"({"architecture":"amd64","os":"linux"})");
  put_manifest("badjson", layers::kCacheConfigMediaType, "{not json");
  put_manifest("huge", layers::kCacheConfigMediaType, "{}", int64_t{1} << 40);
  put_manifest("buildkit", layers::kCacheConfigMediaType, R"({"layers":[],"records":[]})");
  std::vector<CacheSpec> from;
  for (const std::string tag : {"image", "badjson", "huge", "buildkit", "absent"}) {
    CacheSpec s = Local(Dir() + "/hostile", false);
    s.location.name = tag;
    from.push_back(s);
  }
  from.push_back(Local(Dir() + "/nowhere", false));
  RemoteCache importer(b_.get(), {});
  importer.Import(from, Warn());
  EXPECT_EQ(importer.size(), 0u);
  ASSERT_EQ(warnings_.size(), from.size());
  EXPECT_NE(warnings_[0].find("not a build cache"), std::string::npos) << warnings_[0];
  EXPECT_NE(warnings_[2].find("too large"), std::string::npos) << warnings_[2];
}

TEST_F(RemoteCacheTest, ABlobTheCacheLostFailsTheFetch) {
  layers::CacheRecord link = LinkIn("gone soon");
  const oci::Digest digest = link.layers[0].digest;
  RemoteCache exporter(a_.get(), {});
  ASSERT_TRUE(
      exporter.Export({{"link-" + std::string(64, '3'), link}}, Local(Dir() + "/cache", true))
          .ok());
  auto layout = layers::OciLayout::Open(Dir() + "/cache", false);
  ASSERT_TRUE(layout.ok());
  ASSERT_EQ(unlink((*layout)->blobs().PathOf(digest).c_str()), 0);
  RemoteCache importer(b_.get(), {});
  importer.Import({Local(Dir() + "/cache", false)}, Warn());
  ASSERT_EQ(importer.size(), 1u);
  EXPECT_FALSE(importer.HasBlob(link.layers[0]));  // a miss, told before a step relies on it
  EXPECT_FALSE(importer.Fetch(link.layers).ok());
  EXPECT_FALSE(b_->blobs().Has(digest));
}

}  // namespace
}  // namespace kiln::builder
