// Bounded, exception-free JSON parsing for untrusted documents, and field readers that turn
// type mismatches into InvalidArgument errors naming the field. Thread-safe.
#ifndef KILN_OCI_JSON_UTIL_H_
#define KILN_OCI_JSON_UTIL_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "nlohmann/json.hpp"

namespace kiln::oci {

// Largest manifest, index or config kiln accepts (the distribution registry's own limit for
// manifests is 4 MiB; configs with long histories are larger).
inline constexpr uint64_t kMaxManifestSize = 4 << 20;
inline constexpr uint64_t kMaxConfigSize = 16 << 20;

// Parses `bytes` as a JSON object. `what` names the document in errors. Rejects inputs larger
// than `max_size` and nesting deeper than 64 levels.
absl::StatusOr<nlohmann::json> ParseJsonObject(absl::string_view bytes, absl::string_view what,
                                               uint64_t max_size);

// Field readers: a missing field yields the default; a present field of the wrong type is an
// error "FIELD: expected TYPE".
absl::Status GetString(const nlohmann::json& obj, const char* key, std::string* out);
absl::Status GetInt64(const nlohmann::json& obj, const char* key, int64_t* out);
absl::Status GetBool(const nlohmann::json& obj, const char* key, bool* out);
absl::Status GetStringList(const nlohmann::json& obj, const char* key,
                           std::vector<std::string>* out, bool* present = nullptr);
absl::Status GetStringMap(const nlohmann::json& obj, const char* key,
                          std::map<std::string, std::string>* out);
// The keys of an object whose values are ignored (e.g. ExposedPorts: {"80/tcp": {}}).
absl::Status GetKeySet(const nlohmann::json& obj, const char* key, std::vector<std::string>* out);

}  // namespace kiln::oci

#endif  // KILN_OCI_JSON_UTIL_H_
