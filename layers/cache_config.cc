#include "layers/cache_config.h"

#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "oci/digest.h"
#include "oci/json_util.h"
#include "oci/media_types.h"

namespace kiln::layers {
namespace {

// The BuildKit-shaped part: each chain node (a blob on a parent node) once.
class Chains {
 public:
  // The index of the last node of `layers` (-1 for none).
  int Add(const std::vector<oci::Descriptor>& layers, const std::vector<oci::Digest>& diff_ids) {
    int parent = -1;
    for (size_t i = 0; i < layers.size(); ++i) {
      auto [it, added] =
          index_.try_emplace({layers[i].digest.str(), parent}, static_cast<int>(nodes_.size()));
      if (added) {
        nlohmann::json annotations = {{"mediaType", layers[i].media_type},
                                      {"size", layers[i].size}};
        if (i < diff_ids.size()) annotations["diffID"] = diff_ids[i].str();
        // -1: no parent, as BuildKit writes it.
        nodes_.push_back(
            {{"blob", layers[i].digest.str()}, {"parent", parent}, {"annotations", annotations}});
      }
      parent = it->second;
    }
    return parent;
  }
  nlohmann::json nodes() const { return nodes_; }

 private:
  std::map<std::pair<std::string, int>, int> index_;
  nlohmann::json nodes_ = nlohmann::json::array();
};

}  // namespace

EncodedCache EncodeCacheConfig(const NamedRecords& records) {
  EncodedCache out;
  Chains chains;
  std::set<std::string> seen;
  nlohmann::json bk_records = nlohmann::json::array();
  nlohmann::json kiln_records = nlohmann::json::array();
  for (const auto& [name, record] : records) {
    nlohmann::json bk = {{"digest", oci::Digest::Of(name).str()}};
    int top = chains.Add(record.layers, record.diff_ids);
    if (top >= 0) bk["layers"] = nlohmann::json::array({{{"layer", top}}});
    bk_records.push_back(std::move(bk));
    kiln_records.push_back({{"name", name}, {"record", SerializeRecord(record)}});
    for (size_t i = 0; i < record.layers.size(); ++i) {
      if (!seen.insert(record.layers[i].digest.str()).second) continue;
      oci::Descriptor d = record.layers[i];
      d.annotations.clear();
      if (i < record.diff_ids.size())
        d.annotations[kUncompressedAnnotation] = record.diff_ids[i].str();
      out.blobs.push_back(std::move(d));
    }
  }
  nlohmann::json doc = {{"layers", chains.nodes()},
                        {"records", bk_records},
                        {"kiln", {{"version", 1}, {"records", kiln_records}}}};
  out.config = doc.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return out;
}

oci::Manifest CacheManifest(const EncodedCache& cache, const oci::Descriptor& config) {
  oci::Manifest m;
  m.media_type = oci::kOciManifest;
  m.config = config;
  m.config.media_type = kCacheConfigMediaType;
  m.layers = cache.blobs;
  return m;
}

absl::StatusOr<DecodedCache> DecodeCache(const oci::Manifest& manifest, absl::string_view config) {
  if (manifest.config.media_type != kCacheConfigMediaType) {
    return absl::InvalidArgumentError(
        absl::StrCat("not a build cache: its config is ", manifest.config.media_type));
  }
  if (manifest.layers.size() > kMaxCacheLayers) {
    return absl::InvalidArgumentError("the cache has too many layers");
  }
  auto doc = oci::ParseJsonObject(config, "cache config", kMaxCacheConfigSize);
  if (!doc.ok()) return doc.status();
  auto kiln = doc->find("kiln");
  if (kiln == doc->end() || !kiln->is_object() || !(*kiln)["version"].is_number_integer() ||
      (*kiln)["version"].get<int64_t>() != 1 || !(*kiln)["records"].is_array()) {
    return absl::InvalidArgumentError("the cache config has no kiln records (version 1)");
  }
  const nlohmann::json& entries = (*kiln)["records"];
  if (entries.size() > kMaxCacheRecords) {
    return absl::InvalidArgumentError("the cache has too many records");
  }
  std::map<std::string, const oci::Descriptor*> blobs;
  for (const oci::Descriptor& d : manifest.layers) blobs[d.digest.str()] = &d;
  DecodedCache out;
  for (const nlohmann::json& e : entries) {
    if (!e.is_object() || !e.contains("name") || !e["name"].is_string() || !e.contains("record") ||
        !e["record"].is_string() || !ValidRecordName(e["name"].get<std::string>())) {
      ++out.dropped;
      continue;
    }
    std::optional<CacheRecord> r = ParseRecord(e["record"].get<std::string>());
    bool ok = r.has_value();
    for (size_t i = 0; ok && i < r->layers.size(); ++i) {
      auto it = blobs.find(r->layers[i].digest.str());
      // Each blob must be one the cache carries, described alike.
      ok = it != blobs.end() && it->second->size == r->layers[i].size &&
           it->second->media_type == r->layers[i].media_type;
    }
    if (!ok) {
      ++out.dropped;
      continue;
    }
    out.records[e["name"].get<std::string>()] = *std::move(r);
  }
  return out;
}

}  // namespace kiln::layers
