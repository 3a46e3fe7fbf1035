// kiln image create: an image from directories (one layer each) and a config, into the store.
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "base/status_macros.h"
#include "cli/common.h"
#include "layers/image_commit.h"
#include "layers/layer_writer.h"
#include "nlohmann/json.hpp"
#include "oci/image_config.h"

namespace kiln::cli {
namespace {

struct CreateOptions {
  std::vector<std::string> dirs;
  std::vector<std::string> tags;
  std::string entrypoint, cmd, workdir, user, platform;
  std::vector<std::string> env, labels;
  std::string compression = "gzip";
  std::optional<int64_t> source_date_epoch;
};

// A JSON array of strings, or words separated by spaces.
absl::StatusOr<std::vector<std::string>> ParseArgv(const std::string& flag,
                                                   const std::string& text) {
  if (!text.empty() && text[0] == '[') {
    nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
    std::vector<std::string> out;
    if (j.is_array()) {
      for (const auto& v : j) {
        if (!v.is_string()) break;
        out.push_back(v.get<std::string>());
      }
      if (out.size() == j.size()) return out;
    }
    return absl::InvalidArgumentError(
        absl::StrCat("--", flag, ": not a JSON array of strings: ", text));
  }
  return std::vector<std::string>(absl::StrSplit(text, ' ', absl::SkipEmpty()));
}

absl::Status RunCreate(const Globals& g, const CreateOptions& o) {
  ASSIGN_OR_RETURN(layers::Compression compression, layers::ParseCompression(o.compression));
  ASSIGN_OR_RETURN(std::optional<int64_t> epoch, SourceDateEpoch(o.source_date_epoch));
  oci::Platform platform = oci::Platform::Host();
  if (!o.platform.empty()) {
    ASSIGN_OR_RETURN(platform, oci::Platform::Parse(o.platform));
  }
  for (const std::string& tag : o.tags) {
    RETURN_IF_ERROR(layers::Store::CanonicalName(tag).status());
  }
  std::string created = absl::FormatTime(
      "%Y-%m-%dT%H:%M:%SZ", absl::FromUnixSeconds(epoch.value_or(0)), absl::UTCTimeZone());

  oci::ImageConfig config;
  config.created = created;
  config.architecture = platform.architecture;
  config.os = platform.os;
  config.variant = platform.variant;
  config.config.env = o.env;
  if (config.config.env.empty()) {
    config.config.env = {absl::StrCat("PATH=", oci::kDefaultPath)};
  }
  if (!o.entrypoint.empty()) {
    ASSIGN_OR_RETURN(config.config.entrypoint, ParseArgv("entrypoint", o.entrypoint));
  }
  if (!o.cmd.empty()) {
    ASSIGN_OR_RETURN(config.config.cmd, ParseArgv("cmd", o.cmd));
  }
  config.config.working_dir = o.workdir;
  config.config.user = o.user;
  for (const std::string& label : o.labels) {
    std::pair<std::string, std::string> kv = absl::StrSplit(label, absl::MaxSplits('=', 1));
    if (kv.first.empty()) return absl::InvalidArgumentError(absl::StrCat("bad --label ", label));
    config.config.labels[kv.first] = kv.second;
  }

  ASSIGN_OR_RETURN(auto store, OpenStore(g));
  ASSIGN_OR_RETURN(layers::Store::Lock lock, store->LockShared());
  std::vector<oci::Descriptor> layer_descriptors;
  layers::LayerOptions options;
  options.compression = compression;
  options.tar.source_date_epoch = epoch.value_or(0);
  for (size_t i = 0; i < o.dirs.size(); ++i) {
    ASSIGN_OR_RETURN(layers::Layer layer, layers::CreateLayer(o.dirs[i], options, store->blobs()));
    layer_descriptors.push_back(layer.descriptor);
    config.diff_ids.push_back(layer.diff_id);
    config.history.push_back(
        {created, absl::StrCat("kiln image create: layer ", i + 1), "", "", false});
  }
  ASSIGN_OR_RETURN(oci::Descriptor top,
                   layers::CommitImage(store->blobs(), config, layer_descriptors));
  for (const std::string& tag : o.tags) RETURN_IF_ERROR(store->Tag(tag, top));
  std::printf("%s\n", top.digest.str().c_str());
  return absl::OkStatus();
}

}  // namespace

void AddImageCommand(CLI::App& app, Globals& g) {
  CLI::App* image = app.add_subcommand("image", "Image plumbing");
  image->require_subcommand(1);
  auto o = std::make_shared<CreateOptions>();
  CLI::App* create = image->add_subcommand(
      "create",
      "Create an image from directories, one layer each (bottom first), and print its "
      "manifest digest");
  create->add_option("DIR", o->dirs, "Layer directories");
  create->add_option("-t,--tag", o->tags, "Name the image in the store (repeatable)")
      ->allow_extra_args(false);
  create->add_option("--entrypoint", o->entrypoint, "JSON array or words");
  create->add_option("--cmd", o->cmd, "JSON array or words");
  create->add_option("--env", o->env, "KEY=VALUE (repeatable)")->allow_extra_args(false);
  create->add_option("--label", o->labels, "KEY=VALUE (repeatable)")->allow_extra_args(false);
  create->add_option("--workdir", o->workdir, "Working directory");
  create->add_option("--user", o->user, "User");
  create->add_option("--platform", o->platform, "os/arch[/variant] (default: this machine's)");
  create->add_option("--compression", o->compression, "gzip, zstd or none")
      ->check(CLI::IsMember({"gzip", "zstd", "none"}));
  create->add_option("--source-date-epoch", o->source_date_epoch,
                     "Creation time and mtime clamp (default: $SOURCE_DATE_EPOCH, else 0)");
  create->callback([&g, o] { g.run = [&g, o] { return RunCreate(g, *o); }; });
}

}  // namespace kiln::cli
