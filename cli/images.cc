// kiln images: lists the named images in the store (--contains: those that hold a package).
#include <cstdio>
#include <map>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "base/status_macros.h"
#include "cli/common.h"
#include "layers/layout_transport.h"
#include "nlohmann/json.hpp"
#include "transfer/transports.h"
#include "trust/inventory.h"

namespace kiln::cli {

namespace {

// The packages of `image` named `name` (of `version`, if given): "name@version" each. Images
// whose layers are not tars (signatures, attestations) hold none.
absl::StatusOr<std::vector<std::string>> Holds(layers::Store& store,
                                               const layers::LoadedImage& image,
                                               const std::string& name,
                                               const std::string& version) {
  for (const oci::Descriptor& l : image.parsed.layers) {
    if (!absl::StrContains(l.media_type, "tar")) return std::vector<std::string>{};
  }
  auto source = transfer::NewStoreSource(&store, image.manifest.ToDescriptor(), {});
  ASSIGN_OR_RETURN(trust::Inventory inv, trust::InventoryOf(*source, image.parsed.layers));
  std::vector<std::string> out;
  for (const trust::FoundPackage& f : inv.packages) {
    if (f.package.name == name && (version.empty() || f.package.version == version)) {
      out.push_back(absl::StrCat(f.package.name, "@", f.package.version));
    }
  }
  return out;
}

}  // namespace

void AddImagesCommand(CLI::App& app, Globals& g) {
  auto format = std::make_shared<std::string>("table");
  auto contains = std::make_shared<std::string>();
  CLI::App* cmd = app.add_subcommand("images", "List the images in the store");
  cmd->add_option("--format", *format, "table or json")->check(CLI::IsMember({"table", "json"}));
  cmd->add_option("--contains", *contains,
                  "NAME[@VERSION]: only images holding that package (dpkg, apk)");
  cmd->callback([&g, format, contains] {
    g.run = [&g, format, contains]() -> absl::Status {
      ASSIGN_OR_RETURN(auto store, OpenStore(g));
      ASSIGN_OR_RETURN(auto images, store->List());
      std::string want_name = contains->substr(0, contains->find('@'));
      std::string want_version =
          contains->find('@') == std::string::npos ? "" : contains->substr(contains->find('@') + 1);
      if (!contains->empty() && want_name.empty()) {
        return absl::InvalidArgumentError("--contains wants NAME[@VERSION]");
      }
      std::map<std::string, std::vector<std::string>> held;  // by image digest
      nlohmann::json out = nlohmann::json::array();
      if (*format == "table") {
        std::printf("%-40s %-19s %-22s %-9s %s\n", "NAME", "IMAGE ID", "CREATED", "SIZE",
                    "PLATFORMS");
      }
      for (const auto& [name, desc] : images) {
        auto source = layers::NewBlobStoreSource(&store->blobs(), desc);
        auto image = layers::LoadAnyImage(*source);
        std::vector<std::string> platforms;
        if (image.ok()) platforms = layers::ImagePlatforms(*image);
        uint64_t size = 0;
        std::string created = "-";
        if (image.ok()) {
          size = image->parsed.config.size;
          for (const oci::Descriptor& l : image->parsed.layers) size += l.size;
          // RFC 3339 to the second: "2024-01-02T03:04:05Z".
          if (image->config.created.size() >= 19) {
            created = image->config.created.substr(0, 19) + "Z";
          }
        }
        std::string display = name.empty() ? "<none>" : name;
        std::vector<std::string> packages;
        if (!contains->empty()) {
          if (!image.ok()) continue;
          auto it = held.find(desc.digest.str());
          if (it == held.end()) {
            ASSIGN_OR_RETURN_CTX(std::vector<std::string> found,
                                 Holds(*store, *image, want_name, want_version),
                                 "reading the packages of ", display);
            it = held.emplace(desc.digest.str(), std::move(found)).first;
          }
          if (it->second.empty()) continue;
          packages = it->second;
          absl::StrAppend(&display, "  (", absl::StrJoin(packages, ", "), ")");
        }
        if (*format == "table") {
          std::printf("%-40s %-19s %-22s %-9s %s\n", display.c_str(), desc.digest.Short().c_str(),
                      created.c_str(), image.ok() ? HumanSize(size).c_str() : "(damaged)",
                      absl::StrJoin(platforms, ",").c_str());
        } else {
          out.push_back({{"name", name},
                         {"digest", desc.digest.str()},
                         {"mediaType", desc.media_type},
                         {"created", created},
                         {"size", size},
                         {"platforms", platforms}});
          if (!contains->empty()) out.back()["packages"] = packages;
        }
      }
      if (*format == "json")
        std::printf("%s\n",
                    out.dump(2, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
      return absl::OkStatus();
    };
  });
}

}  // namespace kiln::cli
