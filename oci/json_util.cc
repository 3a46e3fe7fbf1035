#include "oci/json_util.h"

#include "absl/strings/str_cat.h"

namespace kiln::oci {

absl::StatusOr<nlohmann::json> ParseJsonObject(absl::string_view bytes, absl::string_view what,
                                               uint64_t max_size) {
  if (bytes.size() > max_size) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " is ", bytes.size(), " bytes, more than the limit of ", max_size));
  }
  int depth = 0;
  bool too_deep = false;
  auto callback = [&](int d, nlohmann::json::parse_event_t event, nlohmann::json&) {
    if (event == nlohmann::json::parse_event_t::object_start ||
        event == nlohmann::json::parse_event_t::array_start) {
      depth = d;
      if (d > 64) too_deep = true;
    }
    return !too_deep;
  };
  nlohmann::json doc = nlohmann::json::parse(bytes.begin(), bytes.end(), callback,
                                             /*allow_exceptions=*/false);
  if (too_deep) return absl::InvalidArgumentError(absl::StrCat(what, ": JSON nested too deeply"));
  if (doc.is_discarded()) return absl::InvalidArgumentError(absl::StrCat(what, ": invalid JSON"));
  if (!doc.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": expected a JSON object"));
  }
  (void)depth;
  return doc;
}

namespace {
absl::Status TypeError(const char* key, const char* type) {
  return absl::InvalidArgumentError(absl::StrCat("field \"", key, "\": expected ", type));
}
}  // namespace

absl::Status GetString(const nlohmann::json& obj, const char* key, std::string* out) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return absl::OkStatus();
  if (!it->is_string()) return TypeError(key, "a string");
  *out = it->get<std::string>();
  return absl::OkStatus();
}

absl::Status GetInt64(const nlohmann::json& obj, const char* key, int64_t* out) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return absl::OkStatus();
  if (!it->is_number_integer()) return TypeError(key, "an integer");
  *out = it->get<int64_t>();
  return absl::OkStatus();
}

absl::Status GetBool(const nlohmann::json& obj, const char* key, bool* out) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return absl::OkStatus();
  if (!it->is_boolean()) return TypeError(key, "a boolean");
  *out = it->get<bool>();
  return absl::OkStatus();
}

absl::Status GetStringList(const nlohmann::json& obj, const char* key,
                           std::vector<std::string>* out, bool* present) {
  if (present) *present = false;
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return absl::OkStatus();
  if (!it->is_array()) return TypeError(key, "an array of strings");
  out->clear();
  for (const auto& v : *it) {
    if (!v.is_string()) return TypeError(key, "an array of strings");
    out->push_back(v.get<std::string>());
  }
  if (present) *present = true;
  return absl::OkStatus();
}

absl::Status GetStringMap(const nlohmann::json& obj, const char* key,
                          std::map<std::string, std::string>* out) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return absl::OkStatus();
  if (!it->is_object()) return TypeError(key, "an object of strings");
  out->clear();
  for (const auto& [k, v] : it->items()) {
    if (!v.is_string()) return TypeError(key, "an object of strings");
    (*out)[k] = v.get<std::string>();
  }
  return absl::OkStatus();
}

absl::Status GetKeySet(const nlohmann::json& obj, const char* key, std::vector<std::string>* out) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return absl::OkStatus();
  if (!it->is_object()) return TypeError(key, "an object");
  out->clear();
  for (const auto& [k, v] : it->items()) out->push_back(k);
  return absl::OkStatus();
}

}  // namespace kiln::oci
