// Fuzz target: an imported cache's config (with a manifest that carries one blob) must never
// crash the decoder; what it accepts must encode and decode again to the same records.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "layers/cache_config.h"
#include "oci/digest.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using kiln::layers::DecodeCache;
  std::string text(reinterpret_cast<const char*>(data), size);
  kiln::oci::Manifest manifest;
  manifest.config.media_type = kiln::layers::kCacheConfigMediaType;
  kiln::oci::Descriptor blob;
  blob.media_type = "application/vnd.oci.image.layer.v1.tar+gzip";
  blob.digest = kiln::oci::Digest::Of("layer");
  blob.size = 5;
  manifest.layers.push_back(blob);
  auto decoded = DecodeCache(manifest, text);
  if (!decoded.ok()) return 0;
  kiln::layers::EncodedCache again = kiln::layers::EncodeCacheConfig(decoded->records);
  auto round = DecodeCache(kiln::layers::CacheManifest(again, manifest.config), again.config);
  if (!round.ok() || round->dropped != 0 || round->records.size() != decoded->records.size()) {
    std::abort();
  }
  return 0;
}
