// What package managers say an image holds: Debian's dpkg database (`var/lib/dpkg/status`, and
// the one-file-per-package `var/lib/dpkg/status.d/` of distroless images) and Alpine's apk
// database (`lib/apk/db/installed`), with `etc/os-release` naming the distribution for each
// package's PURL (pkg:deb/debian/NAME@VERSION?arch=ARCH&distro=debian-12). These files come
// from images, so they are untrusted: each is capped at kMaxPackageDbSize and kMaxPackages.
#ifndef KILN_TRUST_PACKAGES_H_
#define KILN_TRUST_PACKAGES_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace kiln::trust {

inline constexpr size_t kMaxPackageDbSize = 64 << 20;
inline constexpr size_t kMaxPackages = 200'000;

struct Package {
  std::string type;  // "deb", "apk" (PURL types)
  std::string name;
  std::string version;
  std::string arch;
  std::string license;  // as declared; empty when the database declares none
  std::string source;   // the source package, when the database names one
};

// os-release's KEY=VALUE lines (quotes removed).
std::map<std::string, std::string> ParseOsRelease(absl::string_view text);

// The installed packages of a dpkg status file (or a status.d entry, where Status may be
// absent: such an entry is installed).
absl::StatusOr<std::vector<Package>> ParseDpkgStatus(absl::string_view text);
// The packages of an apk installed database.
absl::StatusOr<std::vector<Package>> ParseApkInstalled(absl::string_view text);

// The package's PURL; `os_release` gives the namespace and distro qualifier.
std::string PackageUrl(const Package& p, const std::map<std::string, std::string>& os_release);

}  // namespace kiln::trust

#endif  // KILN_TRUST_PACKAGES_H_
