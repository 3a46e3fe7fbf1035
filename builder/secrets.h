// Build secrets: `--secret` values as docker buildx reads them, and names that look like
// secrets (for the warning that points ARG, ENV and --build-arg users to --secret).
// A secret's bytes reach only a RUN step that mounts it (run_step.h): never a layer, a cache
// record or key, the history, or progress output.
#ifndef KILN_BUILDER_SECRETS_H_
#define KILN_BUILDER_SECRETS_H_

#include <functional>
#include <map>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace kiln::builder {

// BuildKit's limit on one secret.
inline constexpr size_t kMaxSecretSize = 500 * 1024;

// Secrets by id.
using Secrets = std::map<std::string, std::string>;

// One `--secret` value: `id=ID[,src=FILE|,env=VAR][,type=file|env]` (`source` for `src`).
// Without src and env, the variable named ID is read (buildx's rule). `getenv` reads the
// environment; files are read whole, at most kMaxSecretSize. Adds the secret to `out`.
absl::Status AddSecret(absl::string_view spec,
                       const std::function<std::optional<std::string>(const std::string&)>& getenv,
                       Secrets* out);

// True when a variable's name says it holds a credential: one of its words (split at
// anything not a letter or digit, ignoring case) is apikey, auth, credential(s), key, pass,
// passwd, password, pword, secret or token, and none is "public" (BuildKit's rule words).
bool LooksLikeSecret(absl::string_view name);

// The warning for a variable named `name` (from `what`: "ARG", "ENV", "--build-arg").
std::string SecretNameWarning(absl::string_view what, absl::string_view name);

}  // namespace kiln::builder

#endif  // KILN_BUILDER_SECRETS_H_
