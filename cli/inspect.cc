// kiln inspect IMAGE: prints an image's manifest and config as JSON.
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "cli/common.h"
#include "cli/go_template.h"
#include "nlohmann/json.hpp"
#include "transfer/transports.h"

namespace kiln::cli {
namespace {

// The image as `docker image inspect` shows it, for --format templates: Id (the config's
// digest), RepoTags and RepoDigests (the store's names for it), Created, Author,
// Architecture, Os, Variant, Size, Config (every key docker has, empty where unset), RootFS.
nlohmann::json DockerView(const layers::LoadedImage& image, const std::vector<std::string>& tags) {
  nlohmann::json config = nlohmann::json::parse(image.config_bytes, nullptr, false);
  if (!config.is_object()) config = nlohmann::json::object();
  nlohmann::json c = config.value("config", nlohmann::json::object());
  const std::pair<const char*, nlohmann::json> defaults[] = {
      {"User", ""},
      {"Env", nlohmann::json::array()},
      {"Cmd", nullptr},
      {"Entrypoint", nullptr},
      {"WorkingDir", ""},
      {"Labels", nlohmann::json::object()},
      {"ExposedPorts", nlohmann::json::object()},
      {"Volumes", nlohmann::json::object()},
      {"StopSignal", ""},
      {"OnBuild", nullptr},
      {"Shell", nullptr},
      {"Healthcheck", nullptr}};
  for (const auto& [k, v] : defaults) {
    if (!c.contains(k) || (c[k].is_null() && !v.is_null())) c[k] = v;
  }
  int64_t size = image.parsed.config.size;
  for (const oci::Descriptor& l : image.parsed.layers) size += l.size;
  nlohmann::json digests = nlohmann::json::array();
  for (const std::string& t : tags) {
    digests.push_back(absl::StrCat(RepositoryAndTag(t).first, "@", image.manifest.digest.str()));
  }
  return {{"Id", image.parsed.config.digest.str()},
          {"RepoTags", tags},
          {"RepoDigests", digests},
          {"Created", config.value("created", "")},
          {"Author", config.value("author", "")},
          {"Architecture", config.value("architecture", "")},
          {"Os", config.value("os", "")},
          {"Variant", config.value("variant", "")},
          {"Size", size},
          {"Config", c},
          {"RootFS", config.value("rootfs", nlohmann::json::object())}};
}

}  // namespace

void AddInspectCommand(CLI::App& app, Globals& g) {
  struct Options {
    std::string image, platform, format;
  };
  auto opts = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand(
      "inspect", "Print an image's manifest and config as JSON (store name or transport:...)");
  cmd->add_option("IMAGE", opts->image, "Image")->required();
  cmd->add_option("--platform", opts->platform,
                  "Platform to show from a multi-platform image (default: this machine's)");
  cmd->add_option("-f,--format", opts->format,
                  "A template over docker's fields: {{.Id}} {{.RepoTags}} {{.Created}} "
                  "{{.Architecture}} {{.Size}} {{.Config.User}} {{json .Config.Env}} ...");
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
      if (!opts->format.empty()) {
        std::vector<std::string> tags;
        if (store) {
          ASSIGN_OR_RETURN(auto names, store->List());
          for (const auto& [name, desc] : names) {
            if (desc.digest == image.top.digest && name.find('@') == std::string::npos) {
              tags.push_back(name);
            }
          }
        }
        ASSIGN_OR_RETURN(std::string text, RenderTemplate(opts->format, DockerView(image, tags)));
        std::printf("%s\n", text.c_str());
        return absl::OkStatus();
      }
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
