#include "cli/common.h"

#include <cstdio>
#include <cstdlib>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "base/status_macros.h"
#include "registry/registries_conf.h"
#include "trust/enforce.h"
#include "trust/signatures.h"

namespace kiln::cli {

absl::StatusOr<std::unique_ptr<layers::Store>> OpenStore(const Globals& g) {
  return layers::Store::Open(g.root.empty() ? layers::Store::DefaultRoot() : g.root);
}

std::pair<std::string, std::string> RepositoryAndTag(const std::string& name) {
  if (size_t at = name.find('@'); at != std::string::npos) return {name.substr(0, at), "<none>"};
  size_t colon = name.rfind(':');
  if (colon == std::string::npos || name.find('/', colon) != std::string::npos) {
    return {name, "latest"};
  }
  return {name.substr(0, colon), name.substr(colon + 1)};
}

std::string HumanSize(uint64_t bytes) {
  static const char* kUnits[] = {"B", "kB", "MB", "GB", "TB"};
  double v = static_cast<double>(bytes);
  int unit = 0;
  while (v >= 1000 && unit < 4) {
    v /= 1000;
    ++unit;
  }
  if (unit == 0) return absl::StrCat(bytes, "B");
  return absl::StrFormat("%.3g%s", v, kUnits[unit]);
}

absl::StatusOr<std::optional<int64_t>> SourceDateEpoch(const std::optional<int64_t>& flag) {
  if (flag) {
    if (*flag < 0) return absl::InvalidArgumentError("--source-date-epoch must not be negative");
    return flag;
  }
  const char* env = std::getenv("SOURCE_DATE_EPOCH");
  if (env == nullptr || env[0] == '\0') return std::nullopt;
  int64_t v;
  if (!absl::SimpleAtoi(env, &v) || v < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("SOURCE_DATE_EPOCH=\"", env, "\" is not a number of seconds"));
  }
  return v;
}

void AddRegistryFlags(CLI::App* cmd, RegistryFlags* flags) {
  cmd->add_option("--tls-verify", flags->tls_verify,
                  "Verify registry certificates; false also allows plain http");
  cmd->add_option("--cert-dir", flags->cert_dir,
                  "Directory of <host[:port]>/ca.crt (default /etc/containers/certs.d and "
                  "/etc/docker/certs.d)");
  cmd->add_option("--creds", flags->creds, "Registry credentials USER[:PASSWORD]");
  cmd->add_option("--authfile", flags->authfile,
                  "Auth file (default $REGISTRY_AUTH_FILE, else ~/.docker/config.json)");
  cmd->add_option("--jobs", flags->jobs, "Blobs transferred at once")->check(CLI::Range(1, 32));
  cmd->add_option("--registry-mirror", flags->registry_mirrors,
                  "[PREFIX=]HOST[:PORT][/PATH]: pull images of PREFIX (default docker.io) from "
                  "this mirror first (repeatable; before registries.conf's mirrors)")
      ->allow_extra_args(false);
  cmd->add_option("--registries-conf", flags->registries_conf,
                  "registries.conf with [[registry]] mirrors (default $CONTAINERS_REGISTRIES_CONF, "
                  "~/.config/containers/registries.conf, /etc/containers/registries.conf)");
}

void AddPolicyFlag(CLI::App* cmd, std::string* path) {
  cmd->add_option("--signature-policy", *path,
                  "containers-policy.json deciding which images are accepted (default "
                  "~/.config/containers/policy.json, else /etc/containers/policy.json)");
}

absl::StatusOr<std::shared_ptr<const trust::Policy>> LoadPolicy(const std::string& flag,
                                                                bool quiet) {
  ASSIGN_OR_RETURN(std::optional<trust::Policy> policy, trust::Policy::Load(flag));
  if (!policy) {
    if (!quiet) {
      std::fprintf(stderr,
                   "kiln: no signature policy is in force (no policy.json): every image is "
                   "accepted\n");
    }
    return std::shared_ptr<const trust::Policy>();
  }
  return std::make_shared<const trust::Policy>(*std::move(policy));
}

absl::Status CheckIncoming(const std::string& policy_flag, bool quiet,
                           const transfer::ImageLocation& src, layers::ImageSource& source,
                           layers::Store* store, const transfer::TransportOptions& options) {
  if (src.transport == transfer::Transport::kStore) return absl::OkStatus();
  ASSIGN_OR_RETURN(std::shared_ptr<const trust::Policy> policy, LoadPolicy(policy_flag, quiet));
  if (policy == nullptr) return absl::OkStatus();
  ASSIGN_OR_RETURN_CTX(oci::ManifestData top, source.GetManifest(), "reading ", src.String());
  return trust::EnforcePolicy(*policy, src, top.digest, store, options);
}

absl::Status CarrySignatures(const transfer::ImageLocation& src, const transfer::ImageLocation& dst,
                             const oci::Digest& digest, layers::Store* store,
                             const transfer::TransportOptions& options,
                             const std::function<void(const std::string&)>& say) {
  ASSIGN_OR_RETURN(bool found, trust::CopySignatures(src, dst, digest, store, options));
  say(found ? "copied the signatures" : "the image has no signatures to copy");
  return absl::OkStatus();
}

absl::StatusOr<transfer::TransportOptions> MakeTransportOptions(const RegistryFlags& flags) {
  transfer::TransportOptions t;
  t.registry.tls_verify = flags.tls_verify;
  if (!flags.cert_dir.empty()) t.registry.certs_dirs = {flags.cert_dir};
  t.registry.auth_file = flags.authfile;
  if (!flags.creds.empty()) {
    registry::Credential c;
    size_t colon = flags.creds.find(':');
    c.username = flags.creds.substr(0, colon);
    if (colon != std::string::npos) c.password = flags.creds.substr(colon + 1);
    if (c.username.empty()) return absl::InvalidArgumentError("--creds needs a user name");
    t.registry.credential = c;
  }
  ASSIGN_OR_RETURN(registry::RegistriesConf conf,
                   flags.registries_conf.empty()
                       ? registry::RegistriesConf::Load()
                       : registry::RegistriesConf::LoadFile(flags.registries_conf));
  for (const std::string& m : flags.registry_mirrors) RETURN_IF_ERROR(conf.AddMirror(m));
  if (!conf.empty()) {
    t.registries = std::make_shared<const registry::RegistriesConf>(std::move(conf));
  }
  if (const char* chunk = std::getenv("KILN_UPLOAD_CHUNK_SIZE"); chunk != nullptr) {
    int64_t v = 0;
    if (absl::SimpleAtoi(chunk, &v) && v > 0) t.registry.upload_chunk_size = v;
  }
  return t;
}

}  // namespace kiln::cli
