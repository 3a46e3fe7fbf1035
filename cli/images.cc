// kiln images: lists the named images in the store.
#include <cstdio>

#include "absl/strings/str_format.h"
#include "base/status_macros.h"
#include "cli/common.h"
#include "layers/layout_transport.h"
#include "nlohmann/json.hpp"

namespace kiln::cli {

void AddImagesCommand(CLI::App& app, Globals& g) {
  auto format = std::make_shared<std::string>("table");
  CLI::App* cmd = app.add_subcommand("images", "List the images in the store");
  cmd->add_option("--format", *format, "table or json")->check(CLI::IsMember({"table", "json"}));
  cmd->callback([&g, format] {
    g.run = [&g, format]() -> absl::Status {
      ASSIGN_OR_RETURN(auto store, OpenStore(g));
      ASSIGN_OR_RETURN(auto images, store->List());
      nlohmann::json out = nlohmann::json::array();
      if (*format == "table") {
        std::printf("%-40s %-19s %-22s %s\n", "NAME", "IMAGE ID", "CREATED", "SIZE");
      }
      for (const auto& [name, desc] : images) {
        auto source = layers::NewBlobStoreSource(&store->blobs(), desc);
        auto image = layers::LoadImage(*source, oci::Platform::Host());
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
        if (*format == "table") {
          std::printf("%-40s %-19s %-22s %s\n", display.c_str(), desc.digest.Short().c_str(),
                      created.c_str(), image.ok() ? HumanSize(size).c_str() : "(damaged)");
        } else {
          out.push_back({{"name", name},
                         {"digest", desc.digest.str()},
                         {"mediaType", desc.media_type},
                         {"created", created},
                         {"size", size}});
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
