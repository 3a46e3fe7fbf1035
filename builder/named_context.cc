#include "builder/named_context.h"

#include <sys/stat.h>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "oci/digest.h"
#include "oci/reference.h"

namespace kiln::builder {
namespace {

constexpr absl::string_view kDockerImage = "docker-image://";
constexpr absl::string_view kOciLayout = "oci-layout://";

// "DIR", "DIR:TAG" or "DIR@sha256:HEX" as an "oci:" location.
absl::StatusOr<std::string> OciLayoutSource(absl::string_view value) {
  std::string dir(value);
  std::string name;
  if (size_t at = value.rfind('@'); at != absl::string_view::npos) {
    ASSIGN_OR_RETURN_CTX(oci::Digest d, oci::Digest::Parse(value.substr(at + 1)), "oci-layout://",
                         value);
    dir = std::string(value.substr(0, at));
    name = d.str();
  } else if (size_t colon = value.rfind(':'); colon != absl::string_view::npos &&
                                              value.find('/', colon) == absl::string_view::npos) {
    dir = std::string(value.substr(0, colon));
    name = std::string(value.substr(colon + 1));
    if (!oci::IsValidTag(name)) {
      return absl::InvalidArgumentError(
          absl::StrCat("oci-layout://", value, ": bad tag \"", name, "\""));
    }
  }
  if (dir.empty()) return absl::InvalidArgumentError("oci-layout:// names no directory");
  struct stat st;
  if (::stat((dir + "/index.json").c_str(), &st) != 0) {
    return absl::NotFoundError(
        absl::StrCat("oci-layout://", value, ": ", dir, " is not an OCI layout (no index.json)"));
  }
  return name.empty() ? absl::StrCat("oci:", dir) : absl::StrCat("oci:", dir, ":", name);
}

}  // namespace

absl::StatusOr<std::string> NamedContextKey(absl::string_view name) {
  absl::StatusOr<oci::Reference> ref = oci::Reference::Parse(name);
  if (!ref.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid context name \"", name, "\": ", ref.status().message()));
  }
  std::string key = ref->Familiar();
  if (!ref->digest() && absl::EndsWith(key, ":latest")) key.resize(key.size() - 7);
  return key;
}

const NamedContext* FindNamedContext(const NamedContexts& contexts, absl::string_view name) {
  if (contexts.empty()) return nullptr;
  if (absl::EqualsIgnoreCase(name, "scratch") || absl::EqualsIgnoreCase(name, "context")) {
    return nullptr;
  }
  absl::StatusOr<std::string> key = NamedContextKey(name);
  if (!key.ok()) return nullptr;
  auto it = contexts.find(*key);
  return it == contexts.end() ? nullptr : &it->second;
}

absl::StatusOr<std::pair<std::string, NamedContext>> ParseNamedContext(absl::string_view spec) {
  size_t eq = spec.find('=');
  if (eq == absl::string_view::npos || eq == 0 || eq + 1 == spec.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--build-context \"", spec, "\": want NAME=VALUE"));
  }
  absl::string_view name = spec.substr(0, eq);
  absl::string_view value = spec.substr(eq + 1);
  auto fail = [&](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat("--build-context ", name, ": ", why));
  };
  if (absl::EqualsIgnoreCase(name, "scratch") || absl::EqualsIgnoreCase(name, "context")) {
    return fail(absl::StrCat("\"", name, "\" cannot be replaced"));
  }
  absl::StatusOr<std::string> key = NamedContextKey(name);
  if (!key.ok()) return fail(key.status().message());
  NamedContext c;
  if (absl::StartsWith(value, kDockerImage)) {
    c.kind = NamedContext::Kind::kImage;
    c.source = std::string(value.substr(kDockerImage.size()));
    if (c.source != "scratch") {
      absl::StatusOr<oci::Reference> ref = oci::Reference::Parse(c.source);
      if (!ref.ok()) return fail(ref.status().message());
      c.source = ref->String();
    }
  } else if (absl::StartsWith(value, kOciLayout)) {
    c.kind = NamedContext::Kind::kImage;
    absl::StatusOr<std::string> source = OciLayoutSource(value.substr(kOciLayout.size()));
    if (!source.ok()) return fail(source.status().message());
    c.source = *std::move(source);
  } else if (size_t scheme = value.find("://"); scheme != absl::string_view::npos) {
    return fail(absl::StrCat("unsupported context source \"", value.substr(0, scheme),
                             "://\" (want a directory, docker-image://, oci-layout:// or a git "
                             "repository)"));
  } else {
    struct stat st;
    std::string dir(value);
    if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
      return fail(absl::StrCat(value, " is not a directory"));
    }
    c.source = dir;
  }
  return std::make_pair(*std::move(key), std::move(c));
}

}  // namespace kiln::builder
