#include "builder/user.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace kiln::builder {
namespace {

// Rows of a colon-separated database (passwd, group).
std::vector<std::vector<std::string>> Rows(const std::optional<std::string>& file) {
  std::vector<std::vector<std::string>> rows;
  if (!file) return rows;
  for (absl::string_view line : absl::StrSplit(*file, '\n', absl::SkipEmpty())) {
    if (line.empty() || line[0] == '#') continue;
    rows.push_back(absl::StrSplit(line, ':'));
  }
  return rows;
}

}  // namespace

absl::StatusOr<ResolvedUser> ResolveUser(
    const std::string& user,
    const std::function<std::optional<std::string>(const std::string&)>& read_file) {
  ResolvedUser out;
  // No USER is root, whose groups are looked up like anyone's.
  std::pair<std::string, std::string> parts =
      absl::StrSplit(user.empty() ? "0" : user, absl::MaxSplits(':', 1));
  auto passwd = Rows(read_file("/etc/passwd"));
  auto groups = Rows(read_file("/etc/group"));
  std::string user_name;
  bool found = false;
  uint32_t id;
  for (const auto& row : passwd) {
    if (row.size() < 4) continue;
    if (row[0] == parts.first || (absl::SimpleAtoi(parts.first, &id) && row[2] == parts.first)) {
      if (!absl::SimpleAtoi(row[2], &out.uid)) continue;
      uint32_t gid = 0;
      if (absl::SimpleAtoi(row[3], &gid)) out.gid = gid;
      if (row.size() > 5) out.home = row[5];
      user_name = row[0];
      found = true;
      break;
    }
  }
  if (!found) {
    if (!absl::SimpleAtoi(parts.first, &id)) {
      return absl::InvalidArgumentError(absl::StrCat("unable to find user ", parts.first,
                                                     ": no matching entries in passwd file"));
    }
    out.uid = id;
  }
  if (!parts.second.empty()) {
    bool group_found = false;
    for (const auto& row : groups) {
      if (row.size() >= 3 && row[0] == parts.second && absl::SimpleAtoi(row[2], &id)) {
        out.gid = id;
        group_found = true;
        break;
      }
    }
    if (!group_found) {
      if (!absl::SimpleAtoi(parts.second, &id)) {
        return absl::InvalidArgumentError(absl::StrCat("unable to find group ", parts.second,
                                                       ": no matching entries in group file"));
      }
      out.gid = id;
    }
  }
  // The groups list starts with the primary group (as containerd and BuildKit set it), then
  // the groups listing the user, when no group was named.
  out.groups.push_back(out.gid);
  if (parts.second.empty() && !user_name.empty()) {
    for (const auto& row : groups) {
      if (row.size() < 4 || !absl::SimpleAtoi(row[2], &id)) continue;
      for (absl::string_view member : absl::StrSplit(row[3], ',', absl::SkipEmpty())) {
        if (member == user_name && id != out.gid) out.groups.push_back(id);
      }
    }
  }
  return out;
}

}  // namespace kiln::builder
