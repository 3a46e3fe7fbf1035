#include "base/id_map.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "base/file_util.h"

namespace kiln {

absl::StatusOr<IdMap> IdMap::Parse(absl::string_view text) {
  IdMap map;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipWhitespace())) {
    std::vector<absl::string_view> fields =
        absl::StrSplit(line, absl::ByAnyChar(" \t"), absl::SkipEmpty());
    IdRange range;
    if (fields.size() != 3 || !absl::SimpleAtoi(fields[0], &range.inside) ||
        !absl::SimpleAtoi(fields[1], &range.outside) ||
        !absl::SimpleAtoi(fields[2], &range.count)) {
      return absl::InvalidArgumentError(absl::StrCat("bad id map line \"", line, "\""));
    }
    map.ranges_.push_back(range);
  }
  return map;
}

bool IdMap::Contains(uint32_t id) const {
  for (const IdRange& r : ranges_) {
    if (id >= r.inside && uint64_t{id} < uint64_t{r.inside} + r.count) return true;
  }
  return false;
}

bool IdMap::IsIdentity() const {
  return ranges_.size() == 1 && ranges_[0].inside == 0 && ranges_[0].outside == 0 &&
         ranges_[0].count == 4294967295u;
}

bool IdMap::IsSingleId() const { return ranges_.size() == 1 && ranges_[0].count == 1; }

namespace {

IdMap LoadMap(const char* path) {
  auto text = ReadFile(path, 1 << 16);
  if (text.ok()) {
    auto map = IdMap::Parse(*text);
    if (map.ok()) return *std::move(map);
  }
  return *IdMap::Parse("0 0 4294967295");
}

}  // namespace

const IdMap& ProcessUidMap() {
  static const IdMap* map = new IdMap(LoadMap("/proc/self/uid_map"));
  return *map;
}

const IdMap& ProcessGidMap() {
  static const IdMap* map = new IdMap(LoadMap("/proc/self/gid_map"));
  return *map;
}

bool InInitialUserNamespace() { return ProcessUidMap().IsIdentity(); }

absl::Status CheckIdsMapped(uint32_t uid, uint32_t gid) {
  if (ProcessUidMap().Contains(uid) && ProcessGidMap().Contains(gid)) return absl::OkStatus();
  return absl::FailedPreconditionError(absl::StrCat(
      "owner ", uid, ":", gid,
      " does not exist in kiln's user namespace, which maps only the user running kiln; give "
      "that user subordinate ids in /etc/subuid and /etc/subgid (and install newuidmap)"));
}

std::string OverlayXattrPrefix() {
  return InInitialUserNamespace() ? "trusted.overlay." : "user.overlay.";
}

}  // namespace kiln
