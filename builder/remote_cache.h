// Build caches kept outside the store, for `--cache-from` and `--cache-to`: in a registry
// (`type=registry,ref=REF`) or an OCI layout directory (`type=local,src|dest=DIR`), in the
// form layers/cache_config.h describes. Many stores share one cache that way: a runner
// exports what its build made, another imports it and runs only what changed.
//
// Imported records are looked up by name after the store's own; their blobs are fetched only
// when a step needs them (to unpack a base for a step that runs, or for the image the build
// commits), so a cached stage another stage only copies from costs a record, not its layers.
// A cache that cannot be read, is not a cache, or is too large is skipped with a warning; a
// record whose blobs the cache lacks is dropped. Thread-safe.
#ifndef KILN_BUILDER_REMOTE_CACHE_H_
#define KILN_BUILDER_REMOTE_CACHE_H_

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "layers/cache_config.h"
#include "layers/compression.h"
#include "layers/image_transfer.h"
#include "layers/store.h"
#include "transfer/image_location.h"
#include "transfer/transports.h"

namespace kiln::builder {

// One --cache-from or --cache-to.
struct CacheSpec {
  transfer::ImageLocation location;  // kRegistry (ref) or kOciLayout (dir, tag)
  bool max = false;                  // mode=max: every stage's steps; min: the final image's
  std::optional<layers::Compression> compression;
  bool ignore_error = false;  // a failed export is a warning
  std::string String() const;
};

// BuildKit's syntax: `type=registry,ref=REF[,mode=min|max][,compression=gzip|zstd]
// [,ignore-error=true][,image-manifest=true][,oci-mediatypes=true]` or `type=local,dest=DIR`
// (`src=DIR` to import) `[,tag=NAME]`; a bare reference means type=registry.
absl::StatusOr<CacheSpec> ParseCacheSpec(absl::string_view text, bool to);

class RemoteCache {
 public:
  using WarnFn = std::function<void(const std::string&)>;
  RemoteCache(layers::Store* store, transfer::TransportOptions options)
      : store_(store), options_(std::move(options)) {}

  // Reads the records of each cache; the first cache to name a record wins.
  void Import(const std::vector<CacheSpec>& from, const WarnFn& warn);
  size_t size() const { return records_.size(); }

  std::optional<layers::CacheRecord> Read(const std::string& name) const;
  // True when an imported cache lists the blob and still holds it (asked once a build).
  bool HasBlob(const oci::Descriptor& d) const;
  // The registry repositories of the cache that holds `d` ("host/repo"), where it can be
  // fetched or mounted from later; empty when no cache has it or the cache is no registry.
  std::vector<std::string> Origins(const oci::Descriptor& d) const;
  // Copies into the store the blobs of `layers` it lacks, from the caches that hold them.
  absl::Status Fetch(const std::vector<oci::Descriptor>& layers);

  // Writes `records` as a cache at `to` (replacing what was there under that name). Blobs
  // come from the store or, not fetched, straight from the imported cache that holds them.
  absl::Status Export(const layers::NamedRecords& records, const CacheSpec& to);

 private:
  struct Source {
    std::string name;
    std::unique_ptr<layers::ImageSource> source;
    std::mutex mu;  // one blob read at a time unless the source allows more
  };
  absl::Status ImportOne(const CacheSpec& spec, int* dropped);
  class ExportSource;

  layers::Store* store_;
  transfer::TransportOptions options_;
  std::vector<std::unique_ptr<Source>> sources_;
  std::map<std::string, layers::CacheRecord> records_;  // written by Import only
  std::map<std::string, Source*> blobs_;                // digest -> the cache that holds it
  std::mutex fetch_mu_;
  mutable std::mutex probe_mu_;
  mutable std::map<std::string, bool> probed_;
};

}  // namespace kiln::builder

#endif  // KILN_BUILDER_REMOTE_CACHE_H_
