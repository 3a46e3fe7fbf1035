// kiln layer create|extract: layer plumbing for scripts and benchmarks.
#include <fcntl.h>
#include <sys/stat.h>

#include <cstdio>

#include "absl/strings/str_cat.h"
#include "base/io.h"
#include "base/status_macros.h"
#include "base/unique_fd.h"
#include "cli/common.h"
#include "layers/extract.h"
#include "layers/layer_writer.h"
#include "nlohmann/json.hpp"

namespace kiln::cli {
namespace {

struct CreateOptions {
  std::string dir;
  std::string compression = "gzip";
  int level = -1;
  std::optional<int64_t> source_date_epoch;
  bool overlay = false;
};

struct ExtractOptions {
  std::string layer, dir, devices = "skip";
  bool overlay_whiteouts = false;
};

absl::Status RunCreate(const Globals& g, const CreateOptions& o) {
  ASSIGN_OR_RETURN(layers::Compression compression, layers::ParseCompression(o.compression));
  struct stat st;
  if (::stat(o.dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return absl::InvalidArgumentError(absl::StrCat(o.dir, " is not a directory"));
  }
  layers::LayerOptions options;
  options.compression = compression;
  options.level = o.level;
  ASSIGN_OR_RETURN(options.tar.source_date_epoch, SourceDateEpoch(o.source_date_epoch));
  options.tar.overlay_whiteouts = o.overlay;
  ASSIGN_OR_RETURN(auto store, OpenStore(g));
  ASSIGN_OR_RETURN(layers::Store::Lock lock, store->LockShared());
  ASSIGN_OR_RETURN(layers::Layer layer, layers::CreateLayer(o.dir, options, store->blobs()));
  nlohmann::json out = layer.descriptor.ToJson();
  out["diffID"] = layer.diff_id.str();
  out["uncompressedSize"] = layer.uncompressed_size;
  std::printf("%s\n", out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
  return absl::OkStatus();
}

absl::Status RunExtract(const Globals& g, const ExtractOptions& o) {
  layers::ExtractOptions options;
  if (o.devices == "skip") {
    options.devices = layers::DevicePolicy::kSkip;
  } else if (o.devices == "reject") {
    options.devices = layers::DevicePolicy::kReject;
  } else {
    options.devices = layers::DevicePolicy::kCreate;
  }
  if (o.overlay_whiteouts) options.whiteouts = layers::WhiteoutMode::kOverlay;
  std::unique_ptr<Reader> reader;
  std::unique_ptr<layers::Store> store;
  UniqueFd fd;
  auto digest = oci::Digest::Parse(o.layer);
  if (digest.ok()) {
    ASSIGN_OR_RETURN(store, OpenStore(g));
    ASSIGN_OR_RETURN(reader, store->blobs().Open(*digest));
  } else {
    fd = UniqueFd(::open(o.layer.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd.valid()) return ErrnoError(absl::StrCat("open ", o.layer));
    reader = std::make_unique<FdReader>(fd.get());
  }
  struct stat st;
  if (::stat(o.dir.c_str(), &st) != 0) {
    if (::mkdir(o.dir.c_str(), 0755) != 0) return ErrnoError(absl::StrCat("mkdir ", o.dir));
  } else if (!S_ISDIR(st.st_mode)) {
    return absl::InvalidArgumentError(absl::StrCat(o.dir, " is not a directory"));
  }
  ASSIGN_OR_RETURN(layers::ExtractStats stats, layers::ExtractLayer(*reader, o.dir, options));
  std::fprintf(stderr, "extracted %llu entries, %s", static_cast<unsigned long long>(stats.entries),
               HumanSize(stats.bytes).c_str());
  if (stats.skipped_devices > 0) {
    std::fprintf(stderr, ", skipped %llu device nodes",
                 static_cast<unsigned long long>(stats.skipped_devices));
  }
  std::fprintf(stderr, "\n");
  return absl::OkStatus();
}

}  // namespace

void AddLayerCommand(CLI::App& app, Globals& g) {
  CLI::App* layer = app.add_subcommand("layer", "Layer plumbing: create and extract layers");
  layer->require_subcommand(1);

  auto c = std::make_shared<CreateOptions>();
  CLI::App* create = layer->add_subcommand(
      "create", "Store DIR as a layer and print its descriptor (digest, diffID, size) as JSON");
  create->add_option("DIR", c->dir, "Directory")->required();
  create->add_option("--compression", c->compression, "gzip, zstd or none")
      ->check(CLI::IsMember({"gzip", "zstd", "none"}));
  create->add_option("--level", c->level, "Compression level (gzip 0-3, zstd 1-19)");
  create->add_option("--source-date-epoch", c->source_date_epoch,
                     "Clamp mtimes to this time (default: $SOURCE_DATE_EPOCH)");
  create->add_flag("--overlay-whiteouts", c->overlay,
                   "DIR is an overlayfs upper directory: turn its whiteouts into OCI ones");
  create->callback([&g, c] { g.run = [&g, c] { return RunCreate(g, *c); }; });

  auto e = std::make_shared<ExtractOptions>();
  CLI::App* extract = layer->add_subcommand(
      "extract", "Apply a layer (a tar file in any compression, or a blob digest) to DIR");
  extract->add_option("LAYER", e->layer, "Tar file or sha256:... digest of a stored blob")
      ->required();
  extract->add_option("DIR", e->dir, "Target directory (created if missing)")->required();
  extract->add_option("--devices", e->devices, "Device nodes: skip, reject or create")
      ->check(CLI::IsMember({"skip", "reject", "create"}));
  extract->add_flag("--overlay-whiteouts", e->overlay_whiteouts,
                    "Record whiteouts as overlayfs whiteouts instead of deleting");
  extract->callback([&g, e] { g.run = [&g, e] { return RunExtract(g, *e); }; });
}

}  // namespace kiln::cli
