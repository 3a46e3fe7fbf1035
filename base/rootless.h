// Rootless operation: when kiln is started by a user other than root, it moves itself into a
// new user namespace in which that user is root, so it can unpack layers with their owners,
// mount overlays and create the sandboxes of RUN steps without privileges on the host.
// The namespace maps the user's subordinate ids (/etc/subuid, /etc/subgid) to ids 1..N through
// the setuid helpers newuidmap/newgidmap when the user has ranges and the helpers exist;
// otherwise it maps the user alone (then images may only use id 0).
#ifndef KILN_BASE_ROOTLESS_H_
#define KILN_BASE_ROOTLESS_H_

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace kiln {

struct SubordinateRange {
  uint32_t start = 0;
  uint32_t count = 0;
};

// The ranges /etc/subuid or /etc/subgid (`text`) give to the user named `user` with id `id`
// (lines "NAME:START:COUNT" or "ID:START:COUNT"; comments, blanks and bad lines are ignored).
std::vector<SubordinateRange> ParseSubordinateIds(absl::string_view text, absl::string_view user,
                                                  uint32_t id);

// The id-map arguments for newuidmap/newgidmap: "0 ID 1" then the ranges from inside id 1 on.
std::vector<std::string> IdMapArguments(uint32_t id, const std::vector<SubordinateRange>& ranges);

// Does nothing for root. Otherwise forks: the child enters a new user namespace (ids mapped as
// above), becomes root there and returns OK to carry on with the command; the calling process
// stays outside, forwards termination signals and exits with the child's exit status (it never
// returns, except with an error when the namespace cannot be made). Call it before any other
// thread exists.
absl::Status EnterUserNamespace();

}  // namespace kiln

#endif  // KILN_BASE_ROOTLESS_H_
