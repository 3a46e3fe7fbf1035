#include "trust/policy.h"

#include <cstdlib>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "base/file_util.h"
#include "base/status_macros.h"
#include "nlohmann/json.hpp"
#include "trust/keys.h"

namespace kiln::trust {
namespace {

using nlohmann::json;

// A reference as written, without adding ":latest".
std::string Exact(const oci::Reference& r) {
  std::string s = r.Repository();
  if (!r.tag().empty()) absl::StrAppend(&s, ":", r.tag());
  if (r.digest()) absl::StrAppend(&s, "@", r.digest()->str());
  return s;
}

absl::StatusOr<SignedIdentity> ParseIdentity(const json& j) {
  SignedIdentity id;
  if (!j.is_object() || !j.contains("type") || !j["type"].is_string()) {
    return absl::InvalidArgumentError("signedIdentity needs a type");
  }
  const std::string type = j["type"];
  auto field = [&](const char* name) -> absl::StatusOr<std::string> {
    if (!j.contains(name) || !j[name].is_string() || j[name].get<std::string>().empty()) {
      return absl::InvalidArgumentError(absl::StrCat("signedIdentity ", type, " needs ", name));
    }
    return j[name].get<std::string>();
  };
  if (type == "matchExact") {
    id.type = SignedIdentity::Type::kMatchExact;
  } else if (type == "matchRepoDigestOrExact") {
    id.type = SignedIdentity::Type::kMatchRepoDigestOrExact;
  } else if (type == "matchRepository") {
    id.type = SignedIdentity::Type::kMatchRepository;
  } else if (type == "exactReference") {
    id.type = SignedIdentity::Type::kExactReference;
    ASSIGN_OR_RETURN(id.docker_reference, field("dockerReference"));
    ASSIGN_OR_RETURN(oci::Reference r, oci::Reference::Parse(id.docker_reference));
    if (r.tag().empty() && !r.digest()) {
      return absl::InvalidArgumentError("exactReference needs a tag or digest");
    }
  } else if (type == "exactRepository") {
    id.type = SignedIdentity::Type::kExactRepository;
    ASSIGN_OR_RETURN(id.docker_repository, field("dockerRepository"));
    RETURN_IF_ERROR(oci::Reference::Parse(id.docker_repository).status());
  } else if (type == "remapIdentity") {
    id.type = SignedIdentity::Type::kRemapIdentity;
    ASSIGN_OR_RETURN(id.prefix, field("prefix"));
    ASSIGN_OR_RETURN(id.signed_prefix, field("signedPrefix"));
  } else {
    return absl::InvalidArgumentError(absl::StrCat("unknown signedIdentity type \"", type, "\""));
  }
  return id;
}

absl::StatusOr<Requirement> ParseRequirement(const json& j, const std::string& dir) {
  if (!j.is_object() || !j.contains("type") || !j["type"].is_string()) {
    return absl::InvalidArgumentError("a requirement needs a type");
  }
  const std::string type = j["type"];
  Requirement r;
  if (type == "insecureAcceptAnything") {
    r.type = Requirement::Type::kAccept;
    return r;
  }
  if (type == "reject") {
    r.type = Requirement::Type::kReject;
    return r;
  }
  if (type == "signedBy") {
    return absl::UnimplementedError(
        "signedBy (GPG signatures) is not supported; use sigstoreSigned");
  }
  if (type != "sigstoreSigned") {
    return absl::InvalidArgumentError(absl::StrCat("unknown requirement type \"", type, "\""));
  }
  r.type = Requirement::Type::kSigstoreSigned;
  if (j.contains("fulcio") || j.contains("pki")) {
    return absl::UnimplementedError("sigstoreSigned with fulcio or pki (keyless) is not supported");
  }
  std::vector<std::string> paths;
  if (j.contains("keyPath")) {
    if (!j["keyPath"].is_string()) return absl::InvalidArgumentError("keyPath must be a string");
    paths.push_back(j["keyPath"]);
  }
  if (j.contains("keyPaths")) {
    if (!j["keyPaths"].is_array()) return absl::InvalidArgumentError("keyPaths must be a list");
    for (const json& p : j["keyPaths"]) {
      if (!p.is_string()) return absl::InvalidArgumentError("keyPaths must hold strings");
      paths.push_back(p);
    }
  }
  for (std::string path : paths) {
    if (!path.empty() && path[0] != '/') path = absl::StrCat(dir, "/", path);
    ASSIGN_OR_RETURN_CTX(std::string pem, ReadFile(path, kMaxKeyFileSize), "keyPath");
    r.public_keys.push_back(std::move(pem));
  }
  if (j.contains("keyData")) {
    std::string pem;
    if (!j["keyData"].is_string() || !absl::Base64Unescape(j["keyData"].get<std::string>(), &pem)) {
      return absl::InvalidArgumentError("keyData must be base64");
    }
    r.public_keys.push_back(std::move(pem));
  }
  if (r.public_keys.empty()) {
    return absl::InvalidArgumentError("sigstoreSigned needs keyPath, keyPaths or keyData");
  }
  if (r.public_keys.size() > 64) return absl::InvalidArgumentError("too many keys");
  for (const std::string& pem : r.public_keys) {
    RETURN_IF_ERROR_CTX(PublicKey::Load(pem).status(), "sigstoreSigned key");
  }
  if (j.contains("signedIdentity")) {
    ASSIGN_OR_RETURN(r.identity, ParseIdentity(j["signedIdentity"]));
  }
  return r;
}

absl::StatusOr<std::vector<Requirement>> ParseList(const json& j, const std::string& dir) {
  if (!j.is_array() || j.empty()) {
    return absl::InvalidArgumentError("a scope needs a non-empty list of requirements");
  }
  std::vector<Requirement> out;
  for (const json& r : j) {
    ASSIGN_OR_RETURN(Requirement req, ParseRequirement(r, dir));
    out.push_back(std::move(req));
  }
  return out;
}

// The docker scopes of `ref`, most specific first (then the transport's "").
std::vector<std::string> DockerScopes(const oci::Reference& ref) {
  std::vector<std::string> out = {Exact(ref)};
  std::string repo = ref.Repository();
  for (;;) {
    out.push_back(repo);
    size_t slash = repo.rfind('/');
    if (slash == std::string::npos) break;
    repo.resize(slash);
  }
  std::string host = ref.domain().substr(0, ref.domain().find(':'));
  for (size_t dot = host.find('.'); dot != std::string::npos; dot = host.find('.', dot + 1)) {
    out.push_back(absl::StrCat("*", host.substr(dot)));
  }
  out.push_back("");
  return out;
}

bool SameRepository(const oci::Reference& a, const oci::Reference& b) {
  return a.Repository() == b.Repository();
}

bool MatchRepoDigestOrExact(const oci::Reference& image, const oci::Reference& signed_ref) {
  if (image.digest()) return SameRepository(image, signed_ref);
  return !image.tag().empty() && Exact(image) == Exact(signed_ref);
}

}  // namespace

absl::StatusOr<Policy> Policy::Parse(absl::string_view text, const std::string& filename,
                                     const std::string& dir) {
  auto fail = [&](const absl::Status& s) {
    return absl::Status(s.code(), absl::StrCat(filename, ": ", s.message()));
  };
  if (text.size() > kMaxPolicySize) return fail(absl::InvalidArgumentError("too large"));
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return fail(absl::InvalidArgumentError("not JSON"));
  Policy p;
  p.filename_ = filename;
  if (!j.contains("default")) {
    return fail(absl::InvalidArgumentError("no \"default\" requirements"));
  }
  absl::StatusOr<std::vector<Requirement>> def = ParseList(j["default"], dir);
  if (!def.ok()) return fail(Annotate(def.status(), "default"));
  p.default_ = *std::move(def);
  if (j.contains("transports")) {
    if (!j["transports"].is_object()) {
      return fail(absl::InvalidArgumentError("\"transports\" must be an object"));
    }
    for (const auto& [transport, scopes] : j["transports"].items()) {
      if (!scopes.is_object()) {
        return fail(
            absl::InvalidArgumentError(absl::StrCat("transport ", transport, ": want scopes")));
      }
      for (const auto& [scope, list] : scopes.items()) {
        absl::StatusOr<std::vector<Requirement>> reqs = ParseList(list, dir);
        if (!reqs.ok()) {
          return fail(Annotate(reqs.status(), absl::StrCat(transport, " scope \"", scope, "\"")));
        }
        p.transports_[transport][scope] = *std::move(reqs);
      }
    }
  }
  return p;
}

absl::StatusOr<std::optional<Policy>> Policy::Load(const std::string& flag) {
  std::string path = flag;
  if (path.empty()) {
    const char* home = std::getenv("HOME");
    std::string user = home ? absl::StrCat(home, "/.config/containers/policy.json") : "";
    if (!user.empty() && PathExists(user)) {
      path = user;
    } else if (PathExists("/etc/containers/policy.json")) {
      path = "/etc/containers/policy.json";
    } else {
      return std::optional<Policy>();
    }
  }
  ASSIGN_OR_RETURN_CTX(std::string text, ReadFile(path, kMaxPolicySize + 1), "signature policy");
  size_t slash = path.rfind('/');
  ASSIGN_OR_RETURN(Policy p,
                   Parse(text, path, slash == std::string::npos ? "." : path.substr(0, slash)));
  return std::optional<Policy>(std::move(p));
}

PolicyScope Policy::For(const std::string& transport, const std::string& scope_key) const {
  if (auto t = transports_.find(transport); t != transports_.end()) {
    std::vector<std::string> candidates;
    absl::StatusOr<oci::Reference> ref = oci::Reference::Parse(scope_key);
    if (transport == "docker" && ref.ok()) {
      candidates = DockerScopes(*ref);
    } else {
      candidates = {scope_key, ""};
    }
    for (const std::string& c : candidates) {
      if (auto s = t->second.find(c); s != t->second.end()) return {transport, c, &s->second};
    }
  }
  return {transport, "default", &default_};
}

bool IdentityMatches(const SignedIdentity& identity, const oci::Reference& image,
                     const std::string& signed_reference) {
  absl::StatusOr<oci::Reference> signed_ref = oci::Reference::Parse(signed_reference);
  if (!signed_ref.ok()) return false;
  switch (identity.type) {
    case SignedIdentity::Type::kMatchExact:
      return (!image.tag().empty() || image.digest()) && Exact(image) == Exact(*signed_ref);
    case SignedIdentity::Type::kMatchRepoDigestOrExact:
      return MatchRepoDigestOrExact(image, *signed_ref);
    case SignedIdentity::Type::kMatchRepository:
      return SameRepository(image, *signed_ref);
    case SignedIdentity::Type::kExactReference: {
      absl::StatusOr<oci::Reference> want = oci::Reference::Parse(identity.docker_reference);
      return want.ok() && Exact(*want) == Exact(*signed_ref);
    }
    case SignedIdentity::Type::kExactRepository: {
      absl::StatusOr<oci::Reference> want = oci::Reference::Parse(identity.docker_repository);
      return want.ok() && want->Repository() == signed_ref->Repository();
    }
    case SignedIdentity::Type::kRemapIdentity: {
      std::string name = Exact(image);
      const std::string& prefix = identity.prefix;
      bool under = absl::StartsWith(name, prefix) &&
                   (name.size() == prefix.size() || name[prefix.size()] == '/' ||
                    name[prefix.size()] == ':' || name[prefix.size()] == '@');
      if (!under) return MatchRepoDigestOrExact(image, *signed_ref);
      absl::StatusOr<oci::Reference> remapped =
          oci::Reference::Parse(identity.signed_prefix + name.substr(prefix.size()));
      return remapped.ok() && MatchRepoDigestOrExact(*remapped, *signed_ref);
    }
  }
  return false;
}

}  // namespace kiln::trust
