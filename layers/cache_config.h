// A build cache carried as an image, for `--cache-to`/`--cache-from`: BuildKit's cache config
// (`application/vnd.buildkit.cacheconfig.v0`) in its image-manifest form. The manifest is an
// OCI image manifest whose config is the cache config and whose layers are the cached blobs,
// each with its DiffID in a `containerd.io/uncompressed` annotation. The config has
// BuildKit's `layers` (blob, parent index, annotations) and `records` (one per record, its
// result the index of its top layer), which describe the chains for any reader, and kiln's
// own `kiln` object, which kiln reads back: each record under its name (a step key, or
// `link-` and a key), in the form `cache/<name>.json` has (layers/build_cache.h).
#ifndef KILN_LAYERS_CACHE_CONFIG_H_
#define KILN_LAYERS_CACHE_CONFIG_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "layers/build_cache.h"
#include "oci/descriptor.h"
#include "oci/manifest.h"

namespace kiln::layers {

inline constexpr char kCacheConfigMediaType[] = "application/vnd.buildkit.cacheconfig.v0";
inline constexpr char kUncompressedAnnotation[] = "containerd.io/uncompressed";
// Caps on what an imported cache may hold.
inline constexpr uint64_t kMaxCacheConfigSize = 64 << 20;
inline constexpr size_t kMaxCacheRecords = 100000;
inline constexpr size_t kMaxCacheLayers = 100000;

using NamedRecords = std::map<std::string, CacheRecord>;

struct EncodedCache {
  std::string config;                  // the cache config JSON
  std::vector<oci::Descriptor> blobs;  // every layer of every record, once, with its DiffID
};
EncodedCache EncodeCacheConfig(const NamedRecords& records);

// The manifest of an encoded cache whose config blob is `config`.
oci::Manifest CacheManifest(const EncodedCache& cache, const oci::Descriptor& config);

struct DecodedCache {
  NamedRecords records;
  int dropped = 0;  // records that were unreadable, badly named, or named blobs not in the cache
};
// The records of a cache whose manifest is `manifest` and config `config`. An error when the
// manifest is not a cache's or the config is not JSON of the expected shape; a record that is
// wrong on its own is dropped and counted.
absl::StatusOr<DecodedCache> DecodeCache(const oci::Manifest& manifest, absl::string_view config);

}  // namespace kiln::layers

#endif  // KILN_LAYERS_CACHE_CONFIG_H_
