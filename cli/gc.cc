// kiln gc: removes blobs and snapshots that no named image or build cache record needs
// (with --build-cache, the build cache too).
#include <cstdio>
#include <memory>

#include "base/status_macros.h"
#include "cli/common.h"

namespace kiln::cli {

void AddGcCommand(CLI::App& app, Globals& g) {
  CLI::App* cmd = app.add_subcommand(
      "gc", "Remove blobs and unpacked layers no image or build cache record needs");
  auto drop_cache = std::make_shared<bool>(false);
  cmd->add_flag("--build-cache", *drop_cache,
                "Also drop the build cache (then only named images are kept)");
  auto force = std::make_shared<bool>(false);  // docker's prune asks first; kiln gc never
  cmd->add_flag("-f,--force", *force, "Taken for docker's prune: kiln gc asks nothing");
  cmd->callback([&g, drop_cache, force] {
    g.run = [&g, drop_cache]() -> absl::Status {
      ASSIGN_OR_RETURN(auto store, OpenStore(g));
      ASSIGN_OR_RETURN(layers::Store::GcStats stats, store->Gc(*drop_cache));
      std::printf(
          "removed %llu blobs (%s), %llu unpacked layers and %llu build cache records; kept "
          "%llu blobs\n",
          static_cast<unsigned long long>(stats.removed_blobs),
          HumanSize(stats.removed_bytes).c_str(),
          static_cast<unsigned long long>(stats.removed_snapshots),
          static_cast<unsigned long long>(stats.removed_cache_records),
          static_cast<unsigned long long>(stats.kept_blobs));
      return absl::OkStatus();
    };
  });
}

}  // namespace kiln::cli
