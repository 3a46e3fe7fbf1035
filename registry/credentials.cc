#include "registry/credentials.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "base/file_util.h"
#include "base/spawn_attr.h"
#include "base/status_macros.h"
#include "base/unique_fd.h"

extern char** environ;

namespace kiln::registry {
namespace {

bool IsDockerHub(absl::string_view host) {
  return host == "docker.io" || host == "index.docker.io" || host == "registry-1.docker.io";
}

// The host part of an `auths` key ("https://host/v1/" -> "host").
std::string KeyHost(absl::string_view key) {
  absl::ConsumePrefix(&key, "https://");
  absl::ConsumePrefix(&key, "http://");
  size_t slash = key.find('/');
  return std::string(key.substr(0, slash));
}

struct HelperResult {
  int exit_code = 0;
  std::string out;
};

// Runs `docker-credential-<helper> <verb>` with `input` on stdin.
absl::StatusOr<HelperResult> RunHelper(const std::string& helper, const std::string& verb,
                                       const std::string& input) {
  std::string program = absl::StrCat("docker-credential-", helper);
  int in_pipe[2], out_pipe[2];
  if (pipe2(in_pipe, O_CLOEXEC) != 0) return ErrnoError("pipe");
  UniqueFd in_r(in_pipe[0]), in_w(in_pipe[1]);
  if (pipe2(out_pipe, O_CLOEXEC) != 0) return ErrnoError("pipe");
  UniqueFd out_r(out_pipe[0]), out_w(out_pipe[1]);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in_r.get(), 0);
  posix_spawn_file_actions_adddup2(&actions, out_w.get(), 1);
  std::vector<char*> argv = {program.data(), const_cast<char*>(verb.c_str()), nullptr};
  pid_t pid = 0;
  int rc = posix_spawnp(&pid, program.c_str(), &actions, SpawnAttr().get(), argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("credential helper ", program, ": ", std::strerror(rc)));
  }
  in_r.Reset();
  out_w.Reset();
  // Helper inputs are small (a URL or a short JSON object): they fit in the pipe buffer.
  if (write(in_w.get(), input.data(), input.size()) < 0) { /* the helper reports it */
  }
  in_w.Reset();
  HelperResult result;
  char buf[4096];
  while (true) {
    ssize_t n = read(out_r.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    if (result.out.size() < (1 << 20)) result.out.append(buf, n);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128;
  return result;
}

absl::StatusOr<Credential> HelperGet(const std::string& helper, const std::string& host) {
  ASSIGN_OR_RETURN(HelperResult r, RunHelper(helper, "get", AuthKey(host)));
  if (r.exit_code != 0) {
    if (absl::StrContains(r.out, "credentials not found")) return Credential{};
    return absl::PermissionDeniedError(absl::StrCat("credential helper docker-credential-", helper,
                                                    " failed for ", host, ": ",
                                                    absl::StripAsciiWhitespace(r.out)));
  }
  nlohmann::json j = nlohmann::json::parse(r.out, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object() || !j.contains("Secret") || !j["Secret"].is_string()) {
    return absl::InvalidArgumentError(
        absl::StrCat("credential helper docker-credential-", helper, " printed no credentials"));
  }
  Credential c;
  if (j.contains("Username") && j["Username"].is_string()) c.username = j["Username"];
  if (c.username == "<token>") {
    c.username.clear();
    c.identity_token = j["Secret"];
  } else {
    c.password = j["Secret"];
  }
  return c;
}

}  // namespace

std::string AuthKey(const std::string& host) {
  return IsDockerHub(host) ? "https://index.docker.io/v1/" : host;
}

std::string AuthFile::DefaultPath() {
  if (const char* f = std::getenv("REGISTRY_AUTH_FILE"); f != nullptr && *f != '\0') return f;
  if (const char* d = std::getenv("DOCKER_CONFIG"); d != nullptr && *d != '\0') {
    return absl::StrCat(d, "/config.json");
  }
  const char* home = std::getenv("HOME");
  return absl::StrCat(home != nullptr ? home : "/root", "/.docker/config.json");
}

absl::StatusOr<AuthFile> AuthFile::Parse(absl::string_view text, std::string path) {
  AuthFile f;
  f.path_ = std::move(path);
  if (text.size() > kMaxAuthFileSize) {
    return absl::InvalidArgumentError(absl::StrCat(f.path_, ": file too large"));
  }
  if (absl::StripAsciiWhitespace(text).empty()) return f;
  f.doc_ = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!f.doc_.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(f.path_, ": not a JSON object"));
  }
  for (const char* key : {"auths", "credHelpers"}) {
    if (f.doc_.contains(key) && !f.doc_[key].is_object()) {
      return absl::InvalidArgumentError(absl::StrCat(f.path_, ": \"", key, "\" is not an object"));
    }
  }
  if (f.doc_.contains("credsStore") && !f.doc_["credsStore"].is_string()) {
    return absl::InvalidArgumentError(absl::StrCat(f.path_, ": \"credsStore\" is not a string"));
  }
  return f;
}

absl::StatusOr<AuthFile> AuthFile::Load(const std::string& given) {
  const std::string path = given.empty() ? DefaultPath() : given;
  if (access(path.c_str(), F_OK) != 0 && errno == ENOENT) return Parse("", path);
  ASSIGN_OR_RETURN(std::string text, ReadFile(path, kMaxAuthFileSize + 1));
  return Parse(text, path);
}

std::string AuthFile::HelperFor(const std::string& host) const {
  if (doc_.contains("credHelpers")) {
    for (const auto& [key, value] : doc_["credHelpers"].items()) {
      if (value.is_string() && (key == host || KeyHost(key) == host ||
                                (IsDockerHub(host) && IsDockerHub(KeyHost(key))))) {
        return value.get<std::string>();
      }
    }
  }
  if (doc_.contains("credsStore")) return doc_["credsStore"].get<std::string>();
  return "";
}

absl::StatusOr<Credential> AuthFile::Lookup(const std::string& host) const {
  if (doc_.contains("auths")) {
    for (const auto& [key, entry] : doc_["auths"].items()) {
      std::string kh = KeyHost(key);
      if (kh != host && !(IsDockerHub(host) && IsDockerHub(kh))) continue;
      if (!entry.is_object()) continue;
      Credential c;
      if (entry.contains("identitytoken") && entry["identitytoken"].is_string()) {
        c.identity_token = entry["identitytoken"];
      }
      if (entry.contains("auth") && entry["auth"].is_string()) {
        std::string decoded;
        if (!absl::Base64Unescape(entry["auth"].get<std::string>(), &decoded)) {
          return absl::InvalidArgumentError(
              absl::StrCat(path_, ": the \"auth\" of ", key, " is not base64"));
        }
        size_t colon = decoded.find(':');
        if (colon == std::string::npos) {
          return absl::InvalidArgumentError(
              absl::StrCat(path_, ": the \"auth\" of ", key, " is not user:password"));
        }
        c.username = decoded.substr(0, colon);
        c.password = decoded.substr(colon + 1);
      }
      if (!c.empty()) return c;
    }
  }
  std::string helper = HelperFor(host);
  if (!helper.empty()) return HelperGet(helper, host);
  return Credential{};
}

absl::Status AuthFile::Store(const std::string& host, const Credential& cred) {
  std::string helper = HelperFor(host);
  if (!helper.empty()) {
    nlohmann::json in = {
        {"ServerURL", AuthKey(host)},
        {"Username", cred.identity_token.empty() ? cred.username : "<token>"},
        {"Secret", cred.identity_token.empty() ? cred.password : cred.identity_token}};
    ASSIGN_OR_RETURN(HelperResult r, RunHelper(helper, "store", in.dump()));
    if (r.exit_code != 0) {
      return absl::PermissionDeniedError(
          absl::StrCat("credential helper docker-credential-", helper,
                       " could not store credentials: ", absl::StripAsciiWhitespace(r.out)));
    }
    return absl::OkStatus();
  }
  nlohmann::json entry = nlohmann::json::object();
  if (!cred.identity_token.empty()) {
    entry["identitytoken"] = cred.identity_token;
  } else {
    entry["auth"] = absl::Base64Escape(absl::StrCat(cred.username, ":", cred.password));
  }
  if (!doc_.contains("auths")) doc_["auths"] = nlohmann::json::object();
  doc_["auths"][AuthKey(host)] = entry;
  return Save();
}

absl::Status AuthFile::Erase(const std::string& host) {
  bool found = false;
  if (doc_.contains("auths")) {
    std::vector<std::string> keys;
    for (const auto& [key, entry] : doc_["auths"].items()) {
      std::string kh = KeyHost(key);
      if (kh == host || (IsDockerHub(host) && IsDockerHub(kh))) keys.push_back(key);
    }
    for (const std::string& k : keys) doc_["auths"].erase(k);
    found = !keys.empty();
  }
  std::string helper = HelperFor(host);
  if (!helper.empty()) {
    ASSIGN_OR_RETURN(HelperResult r, RunHelper(helper, "erase", AuthKey(host)));
    if (r.exit_code == 0) found = true;
  }
  if (!found) return absl::NotFoundError(absl::StrCat("not logged in to ", host));
  return Save();
}

absl::Status AuthFile::Save() const {
  size_t slash = path_.rfind('/');
  if (slash != std::string::npos && slash > 0) {
    RETURN_IF_ERROR(MakeDirs(path_.substr(0, slash), 0700));
  }
  return WriteFileAtomic(path_, doc_.dump(1, '\t') + "\n", 0600);
}

}  // namespace kiln::registry
