#include "layers/build_cache.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "base/file_util.h"
#include "base/status_macros.h"
#include "oci/image_config.h"
#include "oci/json_util.h"

namespace kiln::layers {
std::optional<CacheRecord> ParseRecord(const std::string& text) {
  auto doc = oci::ParseJsonObject(text, "cache record", oci::kMaxConfigSize);
  if (!doc.ok() || !(*doc)["layers"].is_array()) return std::nullopt;
  CacheRecord r;
  for (const auto& l : (*doc)["layers"]) {
    auto d = oci::Descriptor::FromJson(l);
    if (!d.ok()) return std::nullopt;
    r.layers.push_back(*std::move(d));
  }
  if (auto k = doc->find("key"); k != doc->end()) {
    if (!k->is_string() || k->get<std::string>().size() != 64) return std::nullopt;
    r.passed_on = k->get<std::string>();
  }
  if ((*doc)["marker"].is_boolean()) {
    r.kind = CacheRecord::Kind::kMarker;
    return r.layers.empty() ? std::optional<CacheRecord>(std::move(r)) : std::nullopt;
  }
  if ((*doc)["diff_ids"].is_array()) {
    r.kind = CacheRecord::Kind::kLink;
    for (const auto& id : (*doc)["diff_ids"]) {
      auto d = id.is_string() ? oci::Digest::Parse(id.get<std::string>())
                              : absl::StatusOr<oci::Digest>(absl::InvalidArgumentError(""));
      if (!d.ok()) return std::nullopt;
      r.diff_ids.push_back(*std::move(d));
    }
    if (r.diff_ids.size() != r.layers.size() || r.layers.size() > 1) return std::nullopt;
    return r;
  }
  if (!(*doc)["config"].is_string()) return std::nullopt;
  r.kind = CacheRecord::Kind::kStep;
  r.config = (*doc)["config"].get<std::string>();
  auto config = oci::ImageConfig::Parse(r.config);
  if (!config.ok() || config->diff_ids.size() != r.layers.size()) return std::nullopt;
  r.diff_ids = config->diff_ids;
  r.image = *std::move(config);
  return r;
}

bool ValidRecordName(const std::string& name) {
  absl::string_view hex = name;
  absl::ConsumePrefix(&hex, "link-");
  return hex.size() == 64 && std::all_of(hex.begin(), hex.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

std::string SerializeRecord(const CacheRecord& r) {
  nlohmann::json layers = nlohmann::json::array();
  for (const oci::Descriptor& d : r.layers) layers.push_back(d.ToJson());
  nlohmann::json doc = {{"layers", layers}};
  switch (r.kind) {
    case CacheRecord::Kind::kStep:
      doc["config"] = r.config;
      break;
    case CacheRecord::Kind::kMarker:
      doc["marker"] = true;
      break;
    case CacheRecord::Kind::kLink: {
      nlohmann::json ids = nlohmann::json::array();
      for (const oci::Digest& d : r.diff_ids) ids.push_back(d.str());
      doc["diff_ids"] = ids;
      break;
    }
  }
  if (!r.passed_on.empty()) doc["key"] = r.passed_on;
  return doc.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::optional<CacheRecord> BuildCache::ReadFile(const std::string& path) const {
  auto text = kiln::ReadFile(path, oci::kMaxConfigSize);
  if (!text.ok()) return std::nullopt;
  return ParseRecord(*text);
}

std::optional<CacheRecord> BuildCache::Read(const std::string& name) const {
  return ReadFile(absl::StrCat(dir_, "/", name, ".json"));
}

absl::Status BuildCache::Write(const std::string& name, const CacheRecord& r) const {
  if (!ValidRecordName(name))
    return absl::InvalidArgumentError(absl::StrCat("bad cache record name ", name));
  RETURN_IF_ERROR(MakeDirs(dir_, 0700));
  std::string path = absl::StrCat(dir_, "/", name, ".json");
  std::string text = SerializeRecord(r);
  if (r.kind == CacheRecord::Kind::kMarker) return WriteFileInPlace(path, text);
  return WriteFileAtomic(path, text);
}

absl::StatusOr<std::vector<BuildCache::Entry>> BuildCache::List() const {
  std::vector<Entry> out;
  ASSIGN_OR_RETURN(std::vector<std::string> names, ListDir(dir_));
  for (const std::string& name : names) {
    std::string path = absl::StrCat(dir_, "/", name);
    out.push_back({path, ReadFile(path)});
  }
  return out;
}

}  // namespace kiln::layers
