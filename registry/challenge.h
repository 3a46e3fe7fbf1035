// WWW-Authenticate challenges (RFC 7235) as registries send them:
//   Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a:pull"
//   Basic realm="Registry"
// The header is untrusted: its size is capped and any malformed part is an error.
#ifndef KILN_REGISTRY_CHALLENGE_H_
#define KILN_REGISTRY_CHALLENGE_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace kiln::registry {

struct Challenge {
  std::string scheme;                         // lower case: "bearer", "basic", ...
  std::map<std::string, std::string> params;  // names in lower case
  std::string Param(const std::string& name) const;
};

inline constexpr size_t kMaxChallengeSize = 16 << 10;

absl::StatusOr<std::vector<Challenge>> ParseChallenges(absl::string_view header);

}  // namespace kiln::registry

#endif  // KILN_REGISTRY_CHALLENGE_H_
