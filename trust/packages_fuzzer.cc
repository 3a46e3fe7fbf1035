// Fuzz target: package databases and os-release files out of images must parse or fail
// cleanly, and PURLs of whatever they give must never crash.
#include <cstdint>
#include <string>

#include "trust/packages.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  auto os = kiln::trust::ParseOsRelease(text);
  for (auto parse : {kiln::trust::ParseDpkgStatus, kiln::trust::ParseApkInstalled}) {
    auto pkgs = parse(text);
    if (!pkgs.ok()) continue;
    for (const kiln::trust::Package& p : *pkgs) (void)kiln::trust::PackageUrl(p, os);
  }
  if (auto p = kiln::trust::ParsePythonMetadata(text)) (void)kiln::trust::PackageUrl(*p, os);
  if (auto p = kiln::trust::ParsePackageJson(text)) (void)kiln::trust::PackageUrl(*p, os);
  (void)kiln::trust::PackageFileType(text);
  for (const kiln::trust::Package& p : kiln::trust::ParseGoBuildInfo(text)) {
    (void)kiln::trust::PackageUrl(p, os);
  }
  return 0;
}
