// Registry credentials in the format docker, podman and skopeo share: a JSON file with
// `auths` (base64 "user:password" or an identity token per registry), `credsStore` (a default
// docker-credential-helper) and `credHelpers` (a helper per registry). The file is
// REGISTRY_AUTH_FILE, else $DOCKER_CONFIG/config.json, else ~/.docker/config.json. Keys the
// file holds that kiln does not use are kept when it is rewritten.
#ifndef KILN_REGISTRY_CREDENTIALS_H_
#define KILN_REGISTRY_CREDENTIALS_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "nlohmann/json.hpp"

namespace kiln::registry {

struct Credential {
  std::string username;
  std::string password;
  std::string identity_token;  // an OAuth2 refresh token, used instead of the password
  bool empty() const { return username.empty() && password.empty() && identity_token.empty(); }
};

inline constexpr size_t kMaxAuthFileSize = 1 << 20;

class AuthFile {
 public:
  static std::string DefaultPath();
  // A missing file is an empty one; an empty `path` is DefaultPath().
  static absl::StatusOr<AuthFile> Load(const std::string& path);
  static absl::StatusOr<AuthFile> Parse(absl::string_view text, std::string path);

  // Credentials for `host` ("registry.example:5000"; "docker.io" for Docker Hub); empty when
  // none are configured.
  absl::StatusOr<Credential> Lookup(const std::string& host) const;
  // Records credentials (through the configured helper if there is one) and saves the file.
  absl::Status Store(const std::string& host, const Credential& cred);
  // Removes them; NotFound if there were none.
  absl::Status Erase(const std::string& host);

  const std::string& path() const { return path_; }

 private:
  std::string HelperFor(const std::string& host) const;
  absl::Status Save() const;
  std::string path_;
  nlohmann::json doc_ = nlohmann::json::object();
};

// The key docker uses for `host` in `auths` ("https://index.docker.io/v1/" for Docker Hub).
std::string AuthKey(const std::string& host);

}  // namespace kiln::registry

#endif  // KILN_REGISTRY_CREDENTIALS_H_
