// The Dockerfile word processor: shell-like quoting and variable expansion as BuildKit's
// shell.Lex does it. Handles '...', "...", the escape token, $VAR, ${VAR}, ${VAR:-w},
// ${VAR-w}, ${VAR:+w}, ${VAR+w}, ${VAR:?msg}, ${VAR?msg}, ${VAR#p}, ${VAR##p}, ${VAR%p},
// ${VAR%%p}, ${VAR/p/r} and ${VAR//p/r}; it does not run commands or expand globs.
// A ShellLex is immutable and thread-safe.
#ifndef KILN_BUILDER_DOCKERFILE_SHELL_LEX_H_
#define KILN_BUILDER_DOCKERFILE_SHELL_LEX_H_

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace kiln::builder::dockerfile {

// Variables visible to an expansion; names are case-sensitive.
using Env = std::map<std::string, std::string>;

struct ShellLexOptions {
  char escape = '\\';
  bool raw_quotes = false;      // keep quote characters in the result
  bool raw_escapes = false;     // keep escape characters in the result
  bool skip_unset_env = false;  // leave references to unset variables as written
  bool skip_quotes = false;     // quotes are ordinary characters (heredoc contents)
};

class ShellLex {
 public:
  explicit ShellLex(ShellLexOptions options = {}) : options_(options) {}

  // The word with quotes removed and variables expanded; spaces inside are kept.
  // Errors read as BuildKit's: `failed to process "${x": syntax error: missing '}'`.
  absl::StatusOr<std::string> ProcessWord(absl::string_view word, const Env& env) const;
  // The same, then split into words at unquoted whitespace (after expansion).
  absl::StatusOr<std::vector<std::string>> ProcessWords(absl::string_view word,
                                                        const Env& env) const;

 private:
  ShellLexOptions options_;
};

}  // namespace kiln::builder::dockerfile

#endif  // KILN_BUILDER_DOCKERFILE_SHELL_LEX_H_
