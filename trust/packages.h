// What package managers say an image holds: Debian's dpkg database (`var/lib/dpkg/status`, and
// the one-file-per-package `var/lib/dpkg/status.d/` of distroless images), Alpine's apk
// database (`lib/apk/db/installed`), Python distributions' metadata and npm's package.json, with
// `etc/os-release` naming the distribution for each package's PURL
// (pkg:deb/debian/NAME@VERSION?arch=ARCH&distro=debian-12). These files come from images, so they
// are untrusted: each is capped at kMaxPackageDbSize and kMaxPackages.
#ifndef KILN_TRUST_PACKAGES_H_
#define KILN_TRUST_PACKAGES_H_

#include <map>
#include <optional>
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
// A Python distribution's metadata (`*.dist-info/METADATA`, `*.egg-info/PKG-INFO`): its
// Name, Version and License (or License-Expression); nullopt without a name and version.
std::optional<Package> ParsePythonMetadata(absl::string_view text);
// An npm package's `package.json` (under node_modules): name, version, license.
std::optional<Package> ParsePackageJson(absl::string_view text);

// Go's build info ("\xff Go buildinf:" and what follows, as Go 1.18 and later embed it in
// every binary): the toolchain as "stdlib", the main module and each dependency (replacements
// applied). Empty for an older layout or a binary built without modules.
inline constexpr char kGoBuildInfoMagic[] = "\xff Go buildinf:";
inline constexpr size_t kMaxGoBuildInfo = 1 << 20;
std::vector<Package> ParseGoBuildInfo(absl::string_view bytes);

// The kind of per-package file `path` is ("pypi", "npm"), or "" for none.
std::string PackageFileType(absl::string_view path);

// The package's PURL; `os_release` gives the namespace and distro qualifier.
std::string PackageUrl(const Package& p, const std::map<std::string, std::string>& os_release);

}  // namespace kiln::trust

#endif  // KILN_TRUST_PACKAGES_H_
