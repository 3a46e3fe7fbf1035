// The build cache's records, `cache/<name>.json` in the store: the one type the builder writes
// them with and gc reads them with.
//   step   {"config": "<image config JSON>", "layers": [descriptors][, "key": K]}: the image
//          state after a step;
//   marker {"layers": [], "marker": true[, "key": K]}: a metadata step was done (it is redone
//          from the state in hand, so its record costs nothing of the config);
//   link   {"layers": [descriptors], "diff_ids": [...]}: the layer a COPY --link made.
// "key" is the key a step passed on when it is not its own (the no-cache filter's). Records
// are immutable once written; readers treat anything unreadable as a miss. Thread-safe.
#ifndef KILN_LAYERS_BUILD_CACHE_H_
#define KILN_LAYERS_BUILD_CACHE_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "oci/descriptor.h"
#include "oci/digest.h"
#include "oci/image_config.h"

namespace kiln::layers {

struct CacheRecord {
  enum class Kind { kStep, kMarker, kLink };
  Kind kind = Kind::kStep;
  std::string config;                   // kStep: the serialized image config
  oci::ImageConfig image;               // kStep, when read: `config` parsed
  std::vector<oci::Descriptor> layers;  // kStep, kLink: the layer blobs
  std::vector<oci::Digest> diff_ids;    // kLink: as written; kStep: read from the config
  std::string passed_on;                // kStep, kMarker: the key passed on, if not the name
};

// A record in the form `cache/<name>.json` holds, and back; nullopt for anything that is not
// one (records travel in exported caches too, so this is a parser of untrusted bytes).
std::string SerializeRecord(const CacheRecord& record);
std::optional<CacheRecord> ParseRecord(const std::string& text);

// True for a name a record may have: a step key (64 hex digits) or `link-` and one.
bool ValidRecordName(const std::string& name);

class BuildCache {
 public:
  explicit BuildCache(std::string store_root) : dir_(std::move(store_root) + "/cache") {}

  // The record `name`, or nullopt when there is none or it does not parse.
  std::optional<CacheRecord> Read(const std::string& name) const;
  // Writes `record` as `name`: step and link records atomically and synced; markers without
  // a sync (one lost in a crash is a miss, and quick to redo).
  absl::Status Write(const std::string& name, const CacheRecord& record) const;

  struct Entry {
    std::string path;
    std::optional<CacheRecord> record;  // nullopt: unreadable
  };
  // Every record, for gc.
  absl::StatusOr<std::vector<Entry>> List() const;

 private:
  std::optional<CacheRecord> ReadFile(const std::string& path) const;
  std::string dir_;
};

}  // namespace kiln::layers

#endif  // KILN_LAYERS_BUILD_CACHE_H_
