#include "cli/build_output.h"

#include <sys/stat.h>

#include <map>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "base/status_macros.h"
#include "layers/store.h"
#include "transfer/image_location.h"

namespace kiln::cli {
namespace {

bool IsCsv(const std::string& value) {
  return absl::StartsWith(value, "type=") || absl::StrContains(value, ",type=");
}

absl::StatusOr<std::map<std::string, std::string>> ParseCsv(const std::string& value) {
  std::map<std::string, std::string> kv;
  for (absl::string_view field : absl::StrSplit(value, ',')) {
    std::pair<std::string, std::string> p = absl::StrSplit(field, absl::MaxSplits('=', 1));
    if (field.find('=') == absl::string_view::npos || p.first.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--output ", value, ": \"", field, "\" is not KEY=VALUE"));
    }
    kv[p.first] = p.second;
  }
  return kv;
}

// The directory a file or layout `path` goes into must exist.
absl::Status CheckParent(const std::string& value, const std::string& path) {
  size_t slash = path.rfind('/');
  std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--output ", value, ": directory \"", dir, "\" does not exist"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::string>> FromCsv(const std::string& value,
                                                 const std::vector<std::string>& tags) {
  ASSIGN_OR_RETURN(auto kv, ParseCsv(value));
  const std::string type = kv["type"];
  auto want = [&](const char* key) -> absl::StatusOr<std::string> {
    auto it = kv.find(key);
    if (it == kv.end() || it->second.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--output ", value, ": type=", type, " needs ", key, "="));
    }
    return it->second;
  };
  if (type == "oci" || type == "docker") {
    ASSIGN_OR_RETURN(std::string dest, want("dest"));
    if (dest == "-") {  // StdoutOutput turns it into a file first
      return absl::InvalidArgumentError(
          absl::StrCat("--output ", value, ": dest=- (standard output) is not a file"));
    }
    std::string name = kv.count("name") ? kv["name"] : "";
    if (name.empty() && type == "docker" && !tags.empty()) name = tags[0];
    return std::vector<std::string>{absl::StrCat(
        type == "oci" ? "oci-archive:" : "docker-archive:", dest, name.empty() ? "" : ":", name)};
  }
  if (type == "image" || type == "registry") {
    ASSIGN_OR_RETURN(std::string name, want("name"));
    std::vector<std::string> out;
    for (absl::string_view n : absl::StrSplit(name, ',')) {
      if (type == "image") out.push_back(std::string(n));
      if (type == "registry" || kv["push"] == "true") out.push_back(absl::StrCat("docker://", n));
    }
    return out;
  }
  if (type.empty())
    return absl::InvalidArgumentError(absl::StrCat("--output ", value, ": no type="));
  return absl::InvalidArgumentError(
      absl::StrCat("--output ", value, ": unsupported type \"", type,
                   "\" (type=oci, docker, image, registry, local or tar)"));
}

}  // namespace

absl::StatusOr<std::vector<std::string>> BuildOutputLocations(
    const std::string& value, const std::vector<std::string>& tags) {
  std::vector<std::string> out;
  if (IsCsv(value)) {
    ASSIGN_OR_RETURN(out, FromCsv(value, tags));
  } else {
    out.push_back(value);
  }
  for (const std::string& o : out) {
    ASSIGN_OR_RETURN_CTX(transfer::ImageLocation loc, transfer::ParseImageLocation(o), "--output ",
                         value);
    if (loc.transport == transfer::Transport::kStore) {
      auto name = layers::Store::CanonicalName(loc.name);
      if (!name.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat("--output ", value, ": ", name.status().message()));
      }
    } else if (loc.transport != transfer::Transport::kRegistry) {
      RETURN_IF_ERROR(CheckParent(value, loc.path));
    }
  }
  return out;
}

absl::StatusOr<std::optional<std::string>> StdoutOutput(const std::string& value,
                                                        const std::string& file) {
  if (value == "-") return absl::StrCat("type=tar,dest=", file);
  if (!IsCsv(value)) return std::nullopt;
  ASSIGN_OR_RETURN(auto kv, ParseCsv(value));
  if (kv["dest"] == "-" && kv["type"] == "local") {
    return absl::InvalidArgumentError(
        absl::StrCat("--output ", value, ": type=local cannot write to stdout; use type=tar"));
  }
  std::vector<std::string> fields = absl::StrSplit(value, ',');
  bool found = false;
  for (std::string& f : fields) {
    if (f == "dest=-") {
      f = absl::StrCat("dest=", file);
      found = true;
    }
  }
  if (!found) return std::nullopt;
  return absl::StrJoin(fields, ",");
}

absl::StatusOr<std::optional<builder::FilesOutput>> BuildFilesOutput(const std::string& value) {
  if (!IsCsv(value)) return std::nullopt;
  ASSIGN_OR_RETURN(auto kv, ParseCsv(value));
  if (kv["type"] != "local" && kv["type"] != "tar") return std::nullopt;
  builder::FilesOutput out;
  out.tar = kv["type"] == "tar";
  out.dest = kv["dest"];
  for (const auto& [key, v] : kv) {
    if (key != "type" && key != "dest") {
      return absl::InvalidArgumentError(absl::StrCat("--output ", value, ": unknown key ", key));
    }
  }
  RETURN_IF_ERROR(builder::CheckFilesOutput(out));
  return out;
}

}  // namespace kiln::cli
