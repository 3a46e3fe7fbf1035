#include "builder/remote_cache.h"

#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "base/io.h"
#include "base/status_macros.h"
#include "layers/layout_transport.h"
#include "oci/manifest.h"
#include "oci/media_types.h"
#include "oci/reference.h"

namespace kiln::builder {

std::string CacheSpec::String() const {
  if (location.transport == transfer::Transport::kRegistry) return location.name;
  return absl::StrCat(location.path, ":", location.name);
}

absl::StatusOr<CacheSpec> ParseCacheSpec(absl::string_view text, bool to) {
  const std::string flag = to ? "--cache-to" : "--cache-from";
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat(flag, " ", text, ": ", why));
  };
  std::map<std::string, std::string> kv;
  if (!absl::StrContains(text, '=')) {
    kv = {{"type", "registry"}, {"ref", std::string(text)}};
  } else {
    for (absl::string_view part : absl::StrSplit(text, ',')) {
      std::pair<std::string, std::string> p = absl::StrSplit(part, absl::MaxSplits('=', 1));
      if (p.first.empty() || !absl::StrContains(part, '=')) return bad("expected key=value");
      if (!kv.emplace(p.first, p.second).second) return bad(absl::StrCat(p.first, " given twice"));
    }
  }
  CacheSpec spec;
  const std::string type = kv["type"];
  kv.erase("type");
  auto take = [&](const std::string& key) -> std::optional<std::string> {
    auto it = kv.find(key);
    if (it == kv.end()) return std::nullopt;
    std::string v = it->second;
    kv.erase(it);
    return v;
  };
  auto take_bool = [&](const std::string& key, bool* out) -> absl::Status {
    std::optional<std::string> v = take(key);
    if (!v) return absl::OkStatus();
    if (*v != "true" && *v != "false") return bad(absl::StrCat(key, " must be true or false"));
    if (out) *out = *v == "true";
    return absl::OkStatus();
  };
  if (type == "registry") {
    std::optional<std::string> ref = take("ref");
    if (!ref || ref->empty()) return bad("type=registry needs ref=");
    ASSIGN_OR_RETURN_CTX(oci::Reference r, oci::Reference::Parse(*ref), flag, " ", text);
    spec.location = {transfer::Transport::kRegistry, "", r.String()};
  } else if (type == "local") {
    std::optional<std::string> dir = take(to ? "dest" : "src");
    if (!dir || dir->empty()) return bad(to ? "type=local needs dest=" : "type=local needs src=");
    spec.location = {transfer::Transport::kOciLayout, *dir, take("tag").value_or("latest")};
  } else {
    return bad(absl::StrCat("unknown type \"", type, "\" (registry or local)"));
  }
  if (to) {
    std::string mode = take("mode").value_or("min");
    if (mode != "min" && mode != "max") return bad("mode must be min or max");
    spec.max = mode == "max";
    if (std::optional<std::string> c = take("compression")) {
      absl::StatusOr<layers::Compression> parsed = layers::ParseCompression(*c);
      if (!parsed.ok() || *parsed == layers::Compression::kNone) {
        return bad("compression must be gzip or zstd");
      }
      spec.compression = *parsed;
    }
    bool manifest = true, oci_types = true;
    RETURN_IF_ERROR(take_bool("image-manifest", &manifest));
    RETURN_IF_ERROR(take_bool("oci-mediatypes", &oci_types));
    if (!manifest || !oci_types) {
      return bad("kiln writes caches in the OCI image-manifest form only");
    }
  }
  RETURN_IF_ERROR(take_bool("ignore-error", &spec.ignore_error));
  if (!kv.empty()) return bad(absl::StrCat("unknown option ", kv.begin()->first));
  return spec;
}

void RemoteCache::Import(const std::vector<CacheSpec>& from, const WarnFn& warn) {
  for (const CacheSpec& spec : from) {
    int dropped = 0;
    if (absl::Status s = ImportOne(spec, &dropped); !s.ok()) {
      warn(absl::StrCat("cache ", spec.String(), " not used: ", s.message()));
    } else if (dropped > 0) {
      warn(absl::StrCat("cache ", spec.String(), ": ", dropped, " unusable records ignored"));
    }
  }
}

absl::Status RemoteCache::ImportOne(const CacheSpec& spec, int* dropped) {
  auto source = std::make_unique<Source>();
  source->name = spec.String();
  ASSIGN_OR_RETURN(source->source, transfer::OpenImageSource(spec.location, store_, options_));
  ASSIGN_OR_RETURN(oci::ManifestData top, source->source->GetManifest());
  if (top.media_type != oci::kOciManifest) {
    return absl::InvalidArgumentError(absl::StrCat("not a build cache (", top.media_type, ")"));
  }
  ASSIGN_OR_RETURN(oci::Manifest manifest, oci::Manifest::Parse(top.bytes));
  if (manifest.config.media_type != layers::kCacheConfigMediaType) {
    return absl::InvalidArgumentError(
        absl::StrCat("not a build cache: its config is ", manifest.config.media_type));
  }
  if (manifest.config.size < 0 ||
      static_cast<uint64_t>(manifest.config.size) > layers::kMaxCacheConfigSize) {
    return absl::InvalidArgumentError(
        absl::StrCat("its config is too large (", manifest.config.size, " bytes)"));
  }
  ASSIGN_OR_RETURN(std::unique_ptr<Reader> reader, source->source->OpenBlob(manifest.config));
  ASSIGN_OR_RETURN(std::string config, ReadAllFrom(*reader, layers::kMaxCacheConfigSize));
  ASSIGN_OR_RETURN(layers::DecodedCache decoded, layers::DecodeCache(manifest, config));
  *dropped = decoded.dropped;
  for (const oci::Descriptor& d : manifest.layers) blobs_.try_emplace(d.digest.str(), source.get());
  for (auto& [name, record] : decoded.records) records_.try_emplace(name, std::move(record));
  sources_.push_back(std::move(source));
  return absl::OkStatus();
}

std::optional<layers::CacheRecord> RemoteCache::Read(const std::string& name) const {
  auto it = records_.find(name);
  if (it == records_.end()) return std::nullopt;
  return it->second;
}

bool RemoteCache::HasBlob(const oci::Descriptor& d) const {
  auto it = blobs_.find(d.digest.str());
  if (it == blobs_.end()) return false;
  std::lock_guard<std::mutex> lock(probe_mu_);
  if (auto p = probed_.find(d.digest.str()); p != probed_.end()) return p->second;
  std::optional<bool> exists;
  {
    std::lock_guard<std::mutex> source_lock(it->second->mu);
    exists = it->second->source->BlobExists(d);
  }
  return probed_[d.digest.str()] = exists.value_or(true);
}

std::vector<std::string> RemoteCache::Origins(const oci::Descriptor& d) const {
  auto it = blobs_.find(d.digest.str());
  if (it == blobs_.end()) return {};
  std::lock_guard<std::mutex> source_lock(it->second->mu);
  return it->second->source->BlobOrigins(d);
}

absl::Status RemoteCache::Fetch(const std::vector<oci::Descriptor>& layers) {
  // One download at a time: two stages needing one blob fetch it once.
  std::lock_guard<std::mutex> lock(fetch_mu_);
  for (const oci::Descriptor& d : layers) {
    if (store_->blobs().Has(d.digest)) continue;
    auto it = blobs_.find(d.digest.str());
    if (it == blobs_.end()) {
      return absl::NotFoundError(absl::StrCat("blob ", d.digest.str(), " is in no cache"));
    }
    Source& src = *it->second;
    std::lock_guard<std::mutex> source_lock(src.mu);
    absl::Status s = [&]() -> absl::Status {
      ASSIGN_OR_RETURN(std::unique_ptr<Reader> r, src.source->OpenBlobUnverified(d));
      return store_->blobs().PutFrom(*r, d.digest, d.size).status();
    }();
    RETURN_IF_ERROR_CTX(s, "fetching ", d.digest.str(), " from cache ", src.name);
    std::vector<std::string> origins = src.source->BlobOrigins(d);
    if (!origins.empty()) store_->RecordOrigins(d.digest, std::move(origins));
  }
  return absl::OkStatus();
}

// The cache being exported: its manifest and config from memory, blobs from the store or the
// imported cache that holds them.
class RemoteCache::ExportSource : public layers::ImageSource {
 public:
  ExportSource(RemoteCache& cache, oci::ManifestData manifest, oci::Descriptor config_desc,
               std::string config)
      : cache_(cache),
        manifest_(std::move(manifest)),
        config_desc_(std::move(config_desc)),
        config_(std::move(config)) {}

  absl::StatusOr<oci::ManifestData> GetManifest() override { return manifest_; }
  absl::StatusOr<oci::ManifestData> GetChildManifest(const oci::Descriptor&) override {
    return absl::InvalidArgumentError("a cache has no child manifests");
  }
  absl::StatusOr<std::unique_ptr<Reader>> OpenBlob(const oci::Descriptor& d) override {
    if (d.digest == config_desc_.digest) return std::make_unique<StringReader>(config_);
    if (cache_.store_->blobs().Has(d.digest)) return cache_.store_->blobs().Open(d.digest, d.size);
    RETURN_IF_ERROR(cache_.Fetch({d}));
    return cache_.store_->blobs().Open(d.digest, d.size);
  }
  std::optional<std::string> VerifiedBlobFile(const oci::Descriptor& d) override {
    if (d.digest == config_desc_.digest || !cache_.store_->blobs().Has(d.digest)) {
      return std::nullopt;
    }
    return cache_.store_->blobs().PathOf(d.digest);
  }
  std::vector<std::string> BlobOrigins(const oci::Descriptor& d) override {
    std::vector<std::string> origins = cache_.store_->Origins(d.digest);
    if (auto it = cache_.blobs_.find(d.digest.str()); it != cache_.blobs_.end()) {
      for (std::string& o : it->second->source->BlobOrigins(d)) origins.push_back(std::move(o));
    }
    return origins;
  }

 private:
  RemoteCache& cache_;
  oci::ManifestData manifest_;
  oci::Descriptor config_desc_;
  std::string config_;
};

absl::Status RemoteCache::Export(const layers::NamedRecords& records, const CacheSpec& to) {
  layers::EncodedCache encoded = layers::EncodeCacheConfig(records);
  oci::Descriptor config;
  config.media_type = layers::kCacheConfigMediaType;
  config.digest = oci::Digest::Of(encoded.config);
  config.size = static_cast<int64_t>(encoded.config.size());
  ASSIGN_OR_RETURN(
      oci::ManifestData manifest,
      oci::ManifestData::FromBytes(layers::CacheManifest(encoded, config).Serialize()));
  ExportSource source(*this, std::move(manifest), config, std::move(encoded.config));
  ASSIGN_OR_RETURN(auto dest, transfer::OpenImageDestination(to.location, store_, options_));
  return layers::CopyImage(source, *dest, {}).status();
}

}  // namespace kiln::builder
