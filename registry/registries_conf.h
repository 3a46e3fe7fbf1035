// Where pulls go: the `[[registry]]` tables of containers-registries.conf(5) (version 2) with
// their `[[registry.mirror]]` entries, and `--registry-mirror`. A pull of a reference is
// matched against each table's `prefix` (default: its `location`; "*.example.com" matches
// subdomains; the longest match wins, as containers/image has it); its mirrors are tried in
// order, then the registry itself (`location`, which rewrites the matched prefix). A table
// with `blocked = true` refuses pulls; `insecure = true` allows plain http and unverified
// certificates for that endpoint; `mirror-by-digest-only` and a mirror's `pull-from-mirror`
// (all, digest-only, tag-only) limit mirrors to the references they suit.
//
// The file is the first of $CONTAINERS_REGISTRIES_CONF, $HOME/.config/containers/
// registries.conf and /etc/containers/registries.conf that exists (a user's file replaces the
// system's), then the `*.conf` drop-ins of the `registries.conf.d` beside it in name order (a
// table of a prefix seen before replaces it). TOML is read as far as these files use it: tables,
// arrays of tables, strings, booleans, integers and arrays; other keys and tables are ignored; a
// syntax error is one error naming file:line. Capped at kMaxRegistriesConfSize bytes and
// kMaxRegistryEntries tables.
#ifndef KILN_REGISTRY_REGISTRIES_CONF_H_
#define KILN_REGISTRY_REGISTRIES_CONF_H_

#include <cstddef>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "oci/reference.h"

namespace kiln::registry {

inline constexpr size_t kMaxRegistriesConfSize = 1 << 20;
inline constexpr size_t kMaxRegistryEntries = 10'000;

struct RegistryMirror {
  enum class PullFrom { kAll, kDigestOnly, kTagOnly };
  std::string location;
  bool insecure = false;
  PullFrom pull_from = PullFrom::kAll;
};

struct RegistryEntry {
  std::string prefix;    // as written (empty: the location)
  std::string location;  // empty: the prefix itself
  bool insecure = false;
  bool blocked = false;
  bool mirror_by_digest_only = false;
  std::vector<RegistryMirror> mirrors;
};

// One place to try a pull at, in order.
struct PullSource {
  oci::Reference ref;  // the reference at that endpoint
  bool insecure = false;
  bool mirror = false;
};

class RegistriesConf {
 public:
  // `filename` names errors.
  static absl::StatusOr<RegistriesConf> Parse(absl::string_view text, const std::string& filename);
  // The file the environment selects (see above); none is an empty configuration.
  static absl::StatusOr<RegistriesConf> Load();
  static absl::StatusOr<RegistriesConf> LoadFile(const std::string& path);
  // The file Load reads, or "" when there is none.
  static std::string DefaultPath();

  // --registry-mirror: `[PREFIX=]LOCATION`, PREFIX docker.io when not given. These mirrors
  // are tried before the file's.
  absl::Status AddMirror(absl::string_view spec);

  const std::vector<RegistryEntry>& entries() const { return entries_; }
  bool empty() const { return entries_.empty(); }

  // Where to pull `ref` from: mirrors first, the registry last. An error when the matching
  // table is blocked.
  absl::StatusOr<std::vector<PullSource>> PullSources(const oci::Reference& ref) const;

 private:
  // The table whose prefix matches `name` longest (its length in `matched`), or null.
  const RegistryEntry* Match(const std::string& name, size_t* matched) const;
  std::vector<RegistryEntry> entries_;
  std::map<std::string, size_t> added_mirrors_;  // --registry-mirror entries, by prefix
};

}  // namespace kiln::registry

#endif  // KILN_REGISTRY_REGISTRIES_CONF_H_
