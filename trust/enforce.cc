#include "trust/enforce.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/status_macros.h"
#include "trust/keys.h"
#include "trust/signatures.h"

namespace kiln::trust {
namespace {

std::string TransportName(transfer::Transport t) {
  switch (t) {
    case transfer::Transport::kRegistry:
      return "docker";
    case transfer::Transport::kOciLayout:
      return "oci";
    case transfer::Transport::kOciArchive:
      return "oci-archive";
    case transfer::Transport::kDockerArchive:
      return "docker-archive";
    case transfer::Transport::kStore:
      return "kiln";
  }
  return "";
}

}  // namespace

absl::Status EnforcePolicy(const Policy& policy, const transfer::ImageLocation& source,
                           const oci::Digest& digest, layers::Store* store,
                           const transfer::TransportOptions& options) {
  if (source.transport == transfer::Transport::kStore) return absl::OkStatus();
  const std::string transport = TransportName(source.transport);
  const std::string key =
      source.transport == transfer::Transport::kRegistry ? source.name : source.path;
  PolicyScope scope = policy.For(transport, key);
  auto refuse = [&](absl::string_view why) {
    return absl::PermissionDeniedError(
        absl::StrCat("image ", source.String(), " (", digest.Short(), ") is refused by ",
                     policy.filename(), ", scope ", transport, " \"", scope.scope, "\": ", why));
  };
  for (const Requirement& r : *scope.requirements) {
    switch (r.type) {
      case Requirement::Type::kAccept:
        continue;
      case Requirement::Type::kReject:
        return refuse("the policy rejects it");
      case Requirement::Type::kSigstoreSigned: {
        if (source.transport != transfer::Transport::kRegistry) {
          return refuse("it must be signed, and only registry images carry signatures");
        }
        std::vector<PublicKey> keys;
        for (const std::string& pem : r.public_keys) {
          ASSIGN_OR_RETURN(PublicKey k, PublicKey::Load(pem));
          keys.push_back(std::move(k));
        }
        ASSIGN_OR_RETURN(oci::Reference ref, oci::Reference::Parse(source.name));
        std::vector<std::string> rejected;
        ASSIGN_OR_RETURN(std::vector<SimpleSigning> verified,
                         VerifiedSignatures(source, digest, keys, store, options, &rejected));
        bool accepted = false;
        for (const SimpleSigning& s : verified) {
          if (IdentityMatches(r.identity, ref, s.docker_reference)) {
            accepted = true;
            break;
          }
          rejected.push_back(absl::StrCat("a signature names ", s.docker_reference,
                                          ", which its signedIdentity does not accept"));
        }
        if (!accepted) {
          return refuse(
              absl::StrCat("no signature by its keys holds (", absl::StrJoin(rejected, "; "), ")"));
        }
        continue;
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace kiln::trust
