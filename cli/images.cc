// kiln images: lists the named images in the store (--contains: those that hold a package).
#include <algorithm>
#include <cstdio>
#include <map>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "base/status_macros.h"
#include "cli/common.h"
#include "cli/go_template.h"
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

// docker images REPOSITORY[:TAG]: the name itself, or every tag of the repository.
bool Matches(const std::string& name, const std::string& want) {
  if (want.empty() || name == want) return true;
  return RepositoryAndTag(name).first == want;
}

struct ImagesOptions {
  std::string format = "table", contains, repository;
  bool quiet = false, digests = false;
};

}  // namespace

void AddImagesCommand(CLI::App& app, Globals& g) {
  auto o = std::make_shared<ImagesOptions>();
  CLI::App* cmd = app.add_subcommand("images", "List the images in the store");
  cmd->add_option("REPOSITORY", o->repository, "Only this repository (or REPOSITORY:TAG)");
  cmd->add_option("--format", o->format,
                  "table, json, or a template: {{.Repository}} {{.Tag}} {{.ID}} {{.Digest}} "
                  "{{.CreatedSince}} {{.CreatedAt}} {{.Size}} {{.Platforms}}");
  cmd->add_flag("-q,--quiet", o->quiet, "Only the image IDs, each once");
  cmd->add_flag("--digests", o->digests, "Show each image's full digest");
  cmd->add_option("--contains", o->contains,
                  "NAME[@VERSION]: only images holding that package (dpkg, apk)");
  cmd->callback([&g, o] {
    g.run = [&g, o]() -> absl::Status {
      const std::string* format = &o->format;
      const std::string* contains = &o->contains;
      ASSIGN_OR_RETURN(auto store, OpenStore(g));
      ASSIGN_OR_RETURN(auto all, store->List());
      std::string want = o->repository;
      if (!want.empty()) {
        absl::StatusOr<std::string> canonical = layers::Store::CanonicalName(want, true);
        // A bare repository is not "REPOSITORY:latest" here: every tag of it is listed.
        if (canonical.ok() && want.find(':') != std::string::npos) want = *canonical;
      }
      std::vector<std::pair<std::string, oci::Descriptor>> images;
      for (auto& [name, desc] : all) {
        if (Matches(name, want)) images.emplace_back(name, desc);
      }
      if (o->quiet) {
        std::vector<std::string> seen;
        for (const auto& [name, desc] : images) {
          std::string id = desc.digest.Short();
          if (std::find(seen.begin(), seen.end(), id) != seen.end()) continue;
          seen.push_back(id);
          std::printf("%s\n", id.c_str());
        }
        return absl::OkStatus();
      }
      std::string want_name = contains->substr(0, contains->find('@'));
      std::string want_version =
          contains->find('@') == std::string::npos ? "" : contains->substr(contains->find('@') + 1);
      if (!contains->empty() && want_name.empty()) {
        return absl::InvalidArgumentError("--contains wants NAME[@VERSION]");
      }
      std::map<std::string, std::vector<std::string>> held;  // by image digest
      nlohmann::json out = nlohmann::json::array();
      const bool table = *format == "table", json = *format == "json";
      if (table) {
        std::printf("%-40s %-19s %s%-18s %-9s %s\n", "NAME", "IMAGE ID",
                    o->digests ? absl::StrFormat("%-72s ", "DIGEST").c_str() : "", "CREATED",
                    "SIZE", "PLATFORMS");
      }
      for (const auto& [name, desc] : images) {
        auto source = layers::NewBlobStoreSource(&store->blobs(), desc);
        auto image = layers::LoadAnyImage(*source);
        std::vector<std::string> platforms;
        if (image.ok()) platforms = layers::ImagePlatforms(*image);
        uint64_t size = 0;
        std::string created = "-", since = "N/A";
        if (image.ok()) {
          size = image->parsed.config.size;
          for (const oci::Descriptor& l : image->parsed.layers) size += l.size;
          // RFC 3339 to the second: "2024-01-02T03:04:05Z".
          if (image->config.created.size() >= 19) {
            created = image->config.created.substr(0, 19) + "Z";
            since = HumanAgoOf(created);
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
        if (table) {
          std::printf("%-40s %-19s %s%-18s %-9s %s\n", display.c_str(), desc.digest.Short().c_str(),
                      o->digests ? absl::StrFormat("%-72s ", desc.digest.str()).c_str() : "",
                      since.c_str(), image.ok() ? HumanSize(size).c_str() : "(damaged)",
                      absl::StrJoin(platforms, ",").c_str());
        } else if (!json) {
          auto [repository, tag] = RepositoryAndTag(name);
          nlohmann::json row = {{"Repository", repository},
                                {"Tag", tag},
                                {"ID", desc.digest.Short()},
                                {"Digest", desc.digest.str()},
                                {"CreatedAt", created},
                                {"CreatedSince", since},
                                {"Size", image.ok() ? HumanSize(size) : "(damaged)"},
                                {"Platforms", absl::StrJoin(platforms, ",")}};
          ASSIGN_OR_RETURN(std::string line, RenderTemplate(*format, row));
          std::printf("%s\n", line.c_str());
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
      if (json)
        std::printf("%s\n",
                    out.dump(2, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
      return absl::OkStatus();
    };
  });
}

}  // namespace kiln::cli
