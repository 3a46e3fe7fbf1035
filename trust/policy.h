// Signature policies in containers-policy.json(5)'s format, as containers/image reads them:
// {"default": [REQ...], "transports": {"docker": {"SCOPE": [REQ...], ...}, ...}}, where a
// requirement is {"type": "insecureAcceptAnything"}, {"type": "reject"} or {"type":
// "sigstoreSigned", "keyPath"|"keyPaths"|"keyData": ..., "signedIdentity": {...}} (GPG's
// "signedBy" is refused: kiln checks sigstore signatures only). Every requirement of the list
// that applies must hold. For the docker transport the most specific scope wins: the
// reference with its tag or digest, its repository, each namespace up to the host, then
// "*.domain" wildcards, then the transport's "" scope, then "default". The file is the first
// of --signature-policy, $HOME/.config/containers/policy.json and /etc/containers/policy.json;
// capped at kMaxPolicySize.
#ifndef KILN_TRUST_POLICY_H_
#define KILN_TRUST_POLICY_H_

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "oci/reference.h"

namespace kiln::trust {

inline constexpr size_t kMaxPolicySize = 4 << 20;

// signedIdentity: what the signature's docker-reference must say about the image.
struct SignedIdentity {
  enum class Type {
    kMatchExact,
    kMatchRepoDigestOrExact,
    kMatchRepository,
    kExactReference,
    kExactRepository,
    kRemapIdentity
  };
  Type type = Type::kMatchRepoDigestOrExact;
  std::string docker_reference;       // exactReference
  std::string docker_repository;      // exactRepository
  std::string prefix, signed_prefix;  // remapIdentity
};

struct Requirement {
  enum class Type { kAccept, kReject, kSigstoreSigned };
  Type type = Type::kReject;
  std::vector<std::string> public_keys;  // PEM texts (sigstoreSigned)
  SignedIdentity identity;
};

struct PolicyScope {
  std::string transport;  // "docker", "oci", ...
  std::string scope;      // the matched scope ("" for the transport's default, "default")
  const std::vector<Requirement>* requirements = nullptr;
};

class Policy {
 public:
  // `dir` resolves relative keyPath values (the policy file's directory).
  static absl::StatusOr<Policy> Parse(absl::string_view text, const std::string& filename,
                                      const std::string& dir);
  // `flag` (--signature-policy) or the default files; nullopt when there is none.
  static absl::StatusOr<std::optional<Policy>> Load(const std::string& flag);
  const std::string& filename() const { return filename_; }

  // The requirements for an image of `transport` ("docker": a registry; "oci" and the
  // archives: their path) at `scope_key` (the reference, or the path).
  PolicyScope For(const std::string& transport, const std::string& scope_key) const;

 private:
  std::string filename_;
  std::vector<Requirement> default_;
  std::map<std::string, std::map<std::string, std::vector<Requirement>>> transports_;
};

// Whether a signature claiming `signed_reference` is acceptable for `image` under `identity`.
bool IdentityMatches(const SignedIdentity& identity, const oci::Reference& image,
                     const std::string& signed_reference);

}  // namespace kiln::trust

#endif  // KILN_TRUST_POLICY_H_
