#include "trust/inventory.h"

#include <algorithm>
#include <functional>
#include <optional>
#include <set>
#include <tuple>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "layers/layer_files.h"

namespace kiln::trust {
namespace {

constexpr char kDpkgStatus[] = "var/lib/dpkg/status";
constexpr char kDpkgStatusD[] = "var/lib/dpkg/status.d/";
constexpr char kApkInstalled[] = "lib/apk/db/installed";

bool Wanted(absl::string_view path) {
  return path == kDpkgStatus || path == kApkInstalled || path == "etc/os-release" ||
         !PackageFileType(path).empty() || path == "usr/lib/os-release" ||
         (absl::StartsWith(path, kDpkgStatusD) && path.find('/', sizeof kDpkgStatusD) == path.npos);
}

bool IsDatabase(const std::string& path) {
  return path == kDpkgStatus || path == kApkInstalled || absl::StartsWith(path, kDpkgStatusD);
}

bool Under(const std::string& path, const std::string& dir) {
  return dir.empty() || path == dir || absl::StartsWith(path, dir + "/");
}

std::string Key(const Package& p) {
  return absl::StrCat(p.type, "\n", p.name, "\n", p.version, "\n", p.arch);
}

}  // namespace

absl::StatusOr<Inventory> InventoryOf(layers::ImageSource& source,
                                      const std::vector<oci::Descriptor>& image_layers) {
  std::map<std::string, std::string> files;                  // the merged view of the wanted files
  std::map<std::string, std::pair<int, oci::Digest>> since;  // package key -> its layer
  std::vector<FoundPackage> current;
  std::map<std::string, std::pair<int, oci::Digest>> file_layer;  // where each file was written
  struct GoBinary {
    int layer_index;
    oci::Digest layer;
    std::string info;
  };
  std::map<std::string, GoBinary> go_binaries;
  for (size_t i = 0; i < image_layers.size(); ++i) {
    const oci::Descriptor& d = image_layers[i];
    ASSIGN_OR_RETURN(std::unique_ptr<Reader> blob, source.OpenBlob(d));
    static const layers::LayerProbe kGoProbe{kGoBuildInfoMagic, kMaxGoBuildInfo};
    ASSIGN_OR_RETURN_CTX(layers::LayerFiles changes,
                         layers::ReadLayerFiles(*blob, Wanted, kMaxPackageDbSize, &kGoProbe),
                         "layer ", d.digest.Short());
    bool touched = false;
    auto erase = [&](const std::function<bool(const std::string&)>& gone) {
      for (auto it = files.begin(); it != files.end();) {
        if (!gone(it->first)) {
          ++it;
          continue;
        }
        touched = touched || IsDatabase(it->first);
        it = files.erase(it);
      }
    };
    // Opaque directories lose what lower layers put in them; whiteouts the path and below.
    for (const std::string& dir : changes.opaque_dirs) {
      erase([&](const std::string& p) { return p != dir && Under(p, dir); });
    }
    for (const std::string& path : changes.deleted) {
      erase([&](const std::string& p) { return Under(p, path); });
    }
    for (const std::string& dir : changes.opaque_dirs) {
      std::erase_if(go_binaries,
                    [&](const auto& e) { return e.first != dir && Under(e.first, dir); });
    }
    for (const std::string& path : changes.deleted) {
      std::erase_if(go_binaries, [&](const auto& e) { return Under(e.first, path); });
    }
    // A Go binary's build info stands for it until a later layer replaces or deletes it.
    for (auto& [path, info] : changes.probed) {
      if (info.empty()) {
        go_binaries.erase(path);  // replaced by an executable that is not Go's
      } else {
        go_binaries[path] = {static_cast<int>(i), d.digest, std::move(info)};
      }
    }
    for (auto& [path, content] : changes.files) {
      touched = touched || IsDatabase(path);
      file_layer[path] = {static_cast<int>(i), d.digest};
      files[path] = std::move(content);
    }
    if (!touched) continue;
    // The packages as the databases list them after this layer.
    current.clear();
    std::set<std::string> present;
    for (const auto& [path, content] : files) {
      if (!IsDatabase(path)) continue;
      absl::StatusOr<std::vector<Package>> pkgs =
          path == kApkInstalled ? ParseApkInstalled(content) : ParseDpkgStatus(content);
      if (!pkgs.ok()) return Annotate(pkgs.status(), path);
      for (Package& p : *pkgs) {
        std::string key = Key(p);
        if (!present.insert(key).second) continue;
        if (!since.count(key)) since[key] = {static_cast<int>(i), d.digest};
        FoundPackage f;
        f.package = std::move(p);
        f.database = path;
        current.push_back(std::move(f));
      }
    }
    for (auto it = since.begin(); it != since.end();) {
      it = present.count(it->first) ? std::next(it) : since.erase(it);
    }
  }
  Inventory inv;
  auto os = files.find("etc/os-release");
  if (os == files.end()) os = files.find("usr/lib/os-release");
  if (os != files.end()) inv.os_release = ParseOsRelease(os->second);
  for (FoundPackage& f : current) {
    const auto& [index, layer] = since[Key(f.package)];
    f.layer_index = index;
    f.layer = layer;
    f.purl = PackageUrl(f.package, inv.os_release);
    inv.packages.push_back(std::move(f));
  }
  // One file per package (Python, npm): its layer is the one that wrote the file.
  for (const auto& [path, content] : files) {
    std::string type = PackageFileType(path);
    if (type.empty()) continue;
    std::optional<Package> p =
        type == "pypi" ? ParsePythonMetadata(content) : ParsePackageJson(content);
    if (!p) continue;
    if (inv.packages.size() >= kMaxPackages) {
      return absl::ResourceExhaustedError("the image holds too many packages");
    }
    FoundPackage f;
    f.package = *std::move(p);
    f.database = path;
    f.layer_index = file_layer[path].first;
    f.layer = file_layer[path].second;
    f.purl = PackageUrl(f.package, inv.os_release);
    inv.packages.push_back(std::move(f));
  }
  for (const auto& [path, bin] : go_binaries) {
    for (Package& p : ParseGoBuildInfo(bin.info)) {
      if (inv.packages.size() >= kMaxPackages) {
        return absl::ResourceExhaustedError("the image holds too many packages");
      }
      FoundPackage f;
      f.package = std::move(p);
      f.database = path;
      f.layer_index = bin.layer_index;
      f.layer = bin.layer;
      f.purl = PackageUrl(f.package, inv.os_release);
      inv.packages.push_back(std::move(f));
    }
  }
  std::sort(inv.packages.begin(), inv.packages.end(), [](const auto& a, const auto& b) {
    return std::tie(a.package.type, a.package.name, a.package.version) <
           std::tie(b.package.type, b.package.name, b.package.version);
  });
  return inv;
}

}  // namespace kiln::trust
