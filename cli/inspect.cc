// kiln inspect IMAGE: prints an image's manifest and config as JSON.
#include <cstdio>

#include "base/status_macros.h"
#include "cli/common.h"
#include "nlohmann/json.hpp"
#include "transfer/transports.h"

namespace kiln::cli {

void AddInspectCommand(CLI::App& app, Globals& g) {
  struct Options {
    std::string image, platform;
  };
  auto opts = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand(
      "inspect", "Print an image's manifest and config as JSON (store name or transport:...)");
  cmd->add_option("IMAGE", opts->image, "Image")->required();
  cmd->add_option("--platform", opts->platform,
                  "Platform to show from a multi-platform image (default: this machine's)");
  cmd->callback([&g, opts] {
    g.run = [&g, opts]() -> absl::Status {
      ASSIGN_OR_RETURN(transfer::ImageLocation loc, transfer::ParseImageLocation(opts->image));
      oci::Platform platform = oci::Platform::Host();
      if (!opts->platform.empty()) {
        ASSIGN_OR_RETURN(platform, oci::Platform::Parse(opts->platform));
      }
      std::unique_ptr<layers::Store> store;
      if (loc.transport == transfer::Transport::kStore) {
        ASSIGN_OR_RETURN(store, OpenStore(g));
      }
      ASSIGN_OR_RETURN(auto source, transfer::OpenImageSource(loc, store.get()));
      ASSIGN_OR_RETURN_CTX(layers::LoadedImage image, layers::LoadImage(*source, platform),
                           opts->image);
      nlohmann::json out = nlohmann::json::object();
      out["name"] = opts->image;
      out["digest"] = image.top.digest.str();
      out["mediaType"] = image.top.media_type;
      out["platforms"] = layers::ImagePlatforms(image);
      if (image.top.digest != image.manifest.digest) {
        out["index"] = nlohmann::json::parse(image.top.bytes);
        out["manifestDigest"] = image.manifest.digest.str();
      }
      out["manifest"] = nlohmann::json::parse(image.manifest.bytes);
      out["config"] = nlohmann::json::parse(image.config_bytes);
      std::printf("%s\n",
                  out.dump(2, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
      return absl::OkStatus();
    };
  });
}

}  // namespace kiln::cli
