#include "builder/dockerfile/run_mount.h"

#include <optional>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace kiln::builder::dockerfile {

absl::StatusOr<RunMount> ParseRunMount(absl::string_view spec) {
  if (spec.size() > kMaxMountSpec) return absl::InvalidArgumentError("--mount value too long");
  RunMount m;
  std::optional<bool> read_only;
  for (absl::string_view field : absl::StrSplit(spec, ',', absl::SkipWhitespace())) {
    std::pair<std::string, std::string> kv = absl::StrSplit(field, absl::MaxSplits('=', 1));
    std::string key = absl::AsciiStrToLower(absl::StripAsciiWhitespace(kv.first));
    const std::string value(absl::StripAsciiWhitespace(kv.second));
    bool has_value = field.find('=') != absl::string_view::npos;
    auto flag = [&]() -> absl::StatusOr<bool> {
      if (!has_value) return true;
      std::string v = absl::AsciiStrToLower(value);
      if (v == "true") return true;
      if (v == "false") return false;
      return absl::InvalidArgumentError(absl::StrCat("--mount ", key, ": want true or false"));
    };
    if (key == "type") {
      m.type = absl::AsciiStrToLower(value);
      if (m.type != "bind" && m.type != "cache" && m.type != "tmpfs" && m.type != "secret" &&
          m.type != "ssh") {
        return absl::InvalidArgumentError(absl::StrCat("--mount: unknown type \"", value, "\""));
      }
    } else if (key == "target" || key == "dst" || key == "destination") {
      m.target = value;
    } else if (key == "source" || key == "src") {
      m.source = value;
    } else if (key == "from") {
      m.from = value;
    } else if (key == "id") {
      m.id = value;
    } else if (key == "ro" || key == "readonly") {
      auto v = flag();
      if (!v.ok()) return v.status();
      read_only = *v;
    } else if (key == "rw" || key == "readwrite") {
      auto v = flag();
      if (!v.ok()) return v.status();
      read_only = !*v;
    } else if (key == "sharing") {
      if (value != "shared" && value != "private" && value != "locked") {
        return absl::InvalidArgumentError(absl::StrCat("--mount: unknown sharing \"", value, "\""));
      }
      m.sharing = value;
    } else if (key == "mode" || key == "uid" || key == "gid" || key == "size" ||
               key == "required" || key == "env") {
      // Accepted; kiln's cache directories are root's with mode 0755 and tmpfs has no size cap.
    } else {
      return absl::InvalidArgumentError(absl::StrCat("--mount: unknown key \"", key, "\""));
    }
  }
  if (m.target.empty() && m.type != "secret" && m.type != "ssh") {
    return absl::InvalidArgumentError("--mount: a target is required");
  }
  m.read_only = read_only.value_or(m.type == "bind");
  return m;
}

}  // namespace kiln::builder::dockerfile
