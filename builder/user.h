// Resolves a Dockerfile USER ("name", "uid", "name:group", "uid:gid") to numeric ids through
// the image's /etc/passwd and /etc/group, as Docker does: a numeric uid needs no passwd entry;
// without a group the user's primary group from passwd is used (0 when unknown). The groups
// list holds the primary group, then (when no group is named) those listing the user in
// /etc/group, as containerd and BuildKit set them. No USER is root. Stateless.
#ifndef KILN_BUILDER_USER_H_
#define KILN_BUILDER_USER_H_

#include <sys/types.h>

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace kiln::builder {

struct ResolvedUser {
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;
  std::string home = "/";
};

// `read_file` returns a file of the image's root ("/etc/passwd"), or nullopt if absent.
absl::StatusOr<ResolvedUser> ResolveUser(
    const std::string& user,
    const std::function<std::optional<std::string>(const std::string&)>& read_file);

}  // namespace kiln::builder

#endif  // KILN_BUILDER_USER_H_
