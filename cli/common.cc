#include "cli/common.h"

#include <cstdlib>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace kiln::cli {

absl::StatusOr<std::unique_ptr<layers::Store>> OpenStore(const Globals& g) {
  return layers::Store::Open(g.root.empty() ? layers::Store::DefaultRoot() : g.root);
}

std::string HumanSize(uint64_t bytes) {
  static const char* kUnits[] = {"B", "kB", "MB", "GB", "TB"};
  double v = static_cast<double>(bytes);
  int unit = 0;
  while (v >= 1000 && unit < 4) {
    v /= 1000;
    ++unit;
  }
  if (unit == 0) return absl::StrCat(bytes, "B");
  return absl::StrFormat("%.3g%s", v, kUnits[unit]);
}

absl::StatusOr<std::optional<int64_t>> SourceDateEpoch(const std::optional<int64_t>& flag) {
  if (flag) {
    if (*flag < 0) return absl::InvalidArgumentError("--source-date-epoch must not be negative");
    return flag;
  }
  const char* env = std::getenv("SOURCE_DATE_EPOCH");
  if (env == nullptr || env[0] == '\0') return std::nullopt;
  int64_t v;
  if (!absl::SimpleAtoi(env, &v) || v < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("SOURCE_DATE_EPOCH=\"", env, "\" is not a number of seconds"));
  }
  return v;
}

}  // namespace kiln::cli
