#include "layers/cache_config.h"

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "oci/media_types.h"

namespace kiln::layers {
namespace {

oci::Descriptor Layer(const std::string& content) {
  oci::Descriptor d;
  d.media_type = oci::kOciLayerGzip;
  d.digest = oci::Digest::Of(content);
  d.size = static_cast<int64_t>(content.size());
  return d;
}

std::string ConfigWith(const std::vector<oci::Digest>& diff_ids) {
  nlohmann::json ids = nlohmann::json::array();
  for (const auto& d : diff_ids) ids.push_back(d.str());
  return nlohmann::json{{"architecture", "amd64"},
                        {"os", "linux"},
                        {"rootfs", {{"type", "layers"}, {"diff_ids", ids}}}}
      .dump();
}

// Two step records sharing a base layer, a marker and a link record.
NamedRecords Sample() {
  NamedRecords records;
  CacheRecord one;
  one.layers = {Layer("base")};
  one.diff_ids = {oci::Digest::Of("base-tar")};
  one.config = ConfigWith(one.diff_ids);
  CacheRecord two = one;
  two.layers.push_back(Layer("top"));
  two.diff_ids.push_back(oci::Digest::Of("top-tar"));
  two.config = ConfigWith(two.diff_ids);
  two.passed_on = std::string(64, 'e');
  CacheRecord marker;
  marker.kind = CacheRecord::Kind::kMarker;
  CacheRecord link;
  link.kind = CacheRecord::Kind::kLink;
  link.layers = {Layer("top")};
  link.diff_ids = {oci::Digest::Of("top-tar")};
  records[std::string(64, 'a')] = one;
  records[std::string(64, 'b')] = two;
  records[std::string(64, 'c')] = marker;
  records["link-" + std::string(64, 'd')] = link;
  return records;
}

oci::Descriptor ConfigDescriptor(const EncodedCache& e) {
  oci::Descriptor d;
  d.media_type = kCacheConfigMediaType;
  d.digest = oci::Digest::Of(e.config);
  d.size = static_cast<int64_t>(e.config.size());
  return d;
}

TEST(CacheConfigTest, RecordsRoundTripThroughTheManifestForm) {
  EncodedCache e = EncodeCacheConfig(Sample());
  ASSERT_EQ(e.blobs.size(), 2u);  // each blob once
  EXPECT_EQ(e.blobs[0].annotations.at(kUncompressedAnnotation), oci::Digest::Of("base-tar").str());
  oci::Manifest m = CacheManifest(e, ConfigDescriptor(e));
  EXPECT_EQ(m.config.media_type, kCacheConfigMediaType);
  // The manifest is a valid OCI manifest, as a registry stores it.
  auto parsed = oci::Manifest::Parse(m.Serialize());
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  auto d = DecodeCache(*parsed, e.config);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->dropped, 0);
  ASSERT_EQ(d->records.size(), 4u);
  const CacheRecord& two = d->records.at(std::string(64, 'b'));
  EXPECT_EQ(two.kind, CacheRecord::Kind::kStep);
  ASSERT_EQ(two.layers.size(), 2u);
  EXPECT_EQ(two.layers[1].digest, oci::Digest::Of("top"));
  EXPECT_EQ(two.passed_on, std::string(64, 'e'));
  EXPECT_EQ(d->records.at(std::string(64, 'c')).kind, CacheRecord::Kind::kMarker);
  EXPECT_EQ(d->records.at("link-" + std::string(64, 'd')).kind, CacheRecord::Kind::kLink);
}

TEST(CacheConfigTest, TheBuildKitPartDescribesTheChains) {
  EncodedCache e = EncodeCacheConfig(Sample());
  nlohmann::json doc = nlohmann::json::parse(e.config);
  // base (no parent), top on base, and top alone (the link record's chain).
  ASSERT_EQ(doc["layers"].size(), 3u);
  EXPECT_EQ(doc["layers"][0]["parent"], -1);
  EXPECT_EQ(doc["layers"][1]["parent"], 0);
  EXPECT_EQ(doc["layers"][1]["annotations"]["diffID"], oci::Digest::Of("top-tar").str());
  ASSERT_EQ(doc["records"].size(), 4u);
  EXPECT_EQ(doc["records"][1]["layers"][0]["layer"], 1);  // record b ends at top-on-base
  EXPECT_FALSE(doc["records"][2].contains("layers"));     // the marker has none
}

TEST(CacheConfigTest, WrongCachesAreErrors) {
  EncodedCache e = EncodeCacheConfig(Sample());
  oci::Manifest m = CacheManifest(e, ConfigDescriptor(e));
  oci::Manifest image = m;
  image.config.media_type = oci::kOciConfig;
  EXPECT_FALSE(DecodeCache(image, e.config).ok());
  EXPECT_FALSE(DecodeCache(m, "{").ok());
  EXPECT_FALSE(DecodeCache(m, "[]").ok());
  EXPECT_FALSE(DecodeCache(m, R"({"layers":[],"records":[]})").ok());  // BuildKit's own
  EXPECT_FALSE(DecodeCache(m, R"({"kiln":{"version":2,"records":[]}})").ok());
}

TEST(CacheConfigTest, BadRecordsAreDropped) {
  EncodedCache e = EncodeCacheConfig(Sample());
  oci::Manifest m = CacheManifest(e, ConfigDescriptor(e));
  m.layers.pop_back();  // the top blob is not in the cache: records using it go
  nlohmann::json doc = nlohmann::json::parse(e.config);
  doc["kiln"]["records"].push_back(
      {{"name", "../../etc/x"}, {"record", R"({"layers":[],"marker":true})"}});
  doc["kiln"]["records"].push_back({{"name", std::string(64, 'f')}, {"record", "not json"}});
  doc["kiln"]["records"].push_back(7);
  auto d = DecodeCache(m, doc.dump());
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->records.size(), 2u);  // a and the marker
  EXPECT_TRUE(d->records.count(std::string(64, 'a')));
  EXPECT_EQ(d->dropped, 5);
}

TEST(CacheConfigTest, ABlobDescribedOtherwiseIsNotTrusted) {
  EncodedCache e = EncodeCacheConfig(Sample());
  oci::Manifest m = CacheManifest(e, ConfigDescriptor(e));
  m.layers[0].size += 1;
  auto d = DecodeCache(m, e.config);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->records.size(), 2u);  // the marker (no blob) and the link record (`top`)
}

}  // namespace
}  // namespace kiln::layers
