#include "layers/build_cache.h"

#include "base/file_util.h"
#include "gtest/gtest.h"

namespace kiln::layers {
namespace {

class BuildCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = TempDir::Create("/tmp/kiln-build-cache-");
    ASSERT_TRUE(dir.ok());
    dir_.emplace(std::move(*dir));
  }
  std::string Root() const { return dir_->path(); }
  std::optional<TempDir> dir_;
};

oci::Descriptor Layer(char c) {
  oci::Descriptor d;
  d.media_type = "application/vnd.oci.image.layer.v1.tar+gzip";
  d.digest = oci::Digest::Of(std::string(1, c));
  d.size = 1;
  return d;
}

TEST_F(BuildCacheTest, EachKindRoundTrips) {
  const std::string kStep(64, 'a'), kMarker(64, 'b'), kLink = "link-" + std::string(64, 'c');
  BuildCache cache(Root());
  CacheRecord step;
  step.layers = {Layer('a')};
  step.config = R"({"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[")" +
                oci::Digest::Of("x").str() + R"("]}})";
  step.passed_on = std::string(64, 'f');
  ASSERT_TRUE(cache.Write(kStep, step).ok());
  auto got = cache.Read(kStep);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->kind, CacheRecord::Kind::kStep);
  EXPECT_EQ(got->config, step.config);
  ASSERT_EQ(got->layers.size(), 1u);
  EXPECT_EQ(got->layers[0].digest, step.layers[0].digest);
  ASSERT_EQ(got->diff_ids.size(), 1u);  // from the config
  EXPECT_EQ(got->diff_ids[0], oci::Digest::Of("x"));
  EXPECT_EQ(got->passed_on, step.passed_on);

  CacheRecord marker;
  marker.kind = CacheRecord::Kind::kMarker;
  ASSERT_TRUE(cache.Write(kMarker, marker).ok());
  got = cache.Read(kMarker);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->kind, CacheRecord::Kind::kMarker);
  EXPECT_TRUE(got->layers.empty());
  EXPECT_TRUE(got->passed_on.empty());

  CacheRecord link;
  link.kind = CacheRecord::Kind::kLink;
  link.layers = {Layer('b')};
  link.diff_ids = {oci::Digest::Of("y")};
  ASSERT_TRUE(cache.Write(kLink, link).ok());
  got = cache.Read(kLink);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->kind, CacheRecord::Kind::kLink);
  EXPECT_EQ(got->diff_ids, link.diff_ids);

  auto all = cache.List();
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), 3u);
  for (const auto& e : *all) EXPECT_TRUE(e.record.has_value()) << e.path;
}

TEST_F(BuildCacheTest, DamagedRecordsAreMissesAndListedAsUnreadable) {
  BuildCache cache(Root());
  ASSERT_TRUE(MakeDirs(Root() + "/cache").ok());
  for (const auto& [name, text] : std::vector<std::pair<std::string, std::string>>{
           {"notjson", "{"},
           {"nolayers", R"({"config":"{}"})"},
           {"badkey", R"({"layers":[],"marker":true,"key":"short"})"},
           {"markerwithlayers", R"({"layers":[{"mediaType":"x","digest":")" +
                                    oci::Digest::Of("z").str() + R"(","size":1}],"marker":true})"},
           {"linkmismatch",
            R"({"layers":[],"diff_ids":[")" + oci::Digest::Of("z").str() + R"("]})"},
           {"stepbadconfig", R"({"layers":[],"config":"not json"})"},
       }) {
    ASSERT_TRUE(WriteFileAtomic(Root() + "/cache/" + name + ".json", text).ok());
    EXPECT_FALSE(cache.Read(name).has_value()) << name;
  }
  auto all = cache.List();
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), 6u);
  for (const auto& e : *all) EXPECT_FALSE(e.record.has_value()) << e.path;
  EXPECT_FALSE(cache.Read("missing").has_value());
}

TEST_F(BuildCacheTest, OnlyKeysNameRecords) {
  EXPECT_TRUE(ValidRecordName(std::string(64, '0')));
  EXPECT_TRUE(ValidRecordName("link-" + std::string(64, 'f')));
  for (const std::string& bad :
       std::vector<std::string>{std::string(63, '0'), std::string(64, 'A'), std::string("../x"),
                                "link-", "link-../" + std::string(61, '0'), std::string()}) {
    EXPECT_FALSE(ValidRecordName(bad)) << bad;
  }
  CacheRecord marker;
  marker.kind = CacheRecord::Kind::kMarker;
  EXPECT_FALSE(BuildCache(Root()).Write("../escape", marker).ok());
  EXPECT_FALSE(PathExists(Root() + "/escape.json"));
}

TEST_F(BuildCacheTest, SerializedRecordsParseBack) {
  CacheRecord link;
  link.kind = CacheRecord::Kind::kLink;
  link.layers = {Layer('q')};
  link.diff_ids = {oci::Digest::Of("r")};
  std::optional<CacheRecord> got = ParseRecord(SerializeRecord(link));
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->kind, CacheRecord::Kind::kLink);
  EXPECT_EQ(got->layers[0].digest, link.layers[0].digest);
  EXPECT_FALSE(ParseRecord("[]").has_value());
}

TEST_F(BuildCacheTest, NoCacheDirectoryListsNothing) {
  auto all = BuildCache(Root() + "/nowhere").List();
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_TRUE(all->empty());
}

}  // namespace
}  // namespace kiln::layers
