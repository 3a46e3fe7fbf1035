// The --chmod value of COPY and ADD: an octal mode ("755", "0644") or chmod(1)'s symbolic
// form ("u+x,go-w", "a=rX", "g=u"), applied as POSIX chmod applies it with no umask.
#ifndef KILN_BUILDER_DOCKERFILE_FILE_MODE_H_
#define KILN_BUILDER_DOCKERFILE_FILE_MODE_H_

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace kiln::builder::dockerfile {

class FileMode {
 public:
  // A mode of at most 256 characters; anything else is one error naming the value.
  static absl::StatusOr<FileMode> Parse(absl::string_view text);

  // The permission bits (07777) an entry whose own mode is `from` gets.
  mode_t Apply(mode_t from, bool is_dir) const;
  // The octal mode, if the value was one: it is also what the directories a copy creates get.
  std::optional<mode_t> octal() const { return octal_; }

 private:
  struct Action {
    mode_t who = 0;       // the bits of the classes named (u: 04700, g: 02070, o: 01007; none: all)
    char op = '+';        // '+', '-' or '='
    mode_t perms = 0;     // r, w, x, s, t as bits for all classes (masked by who)
    bool cond_x = false;  // X: execute only for directories or when some x bit is set
    char copy_from = 0;   // 'u', 'g' or 'o': the bits of that class instead of perms
  };
  std::optional<mode_t> octal_;
  std::vector<Action> actions_;
};

}  // namespace kiln::builder::dockerfile

#endif  // KILN_BUILDER_DOCKERFILE_FILE_MODE_H_
