// kiln gc: removes blobs, snapshots and cache records that no named image needs.
#include <cstdio>

#include "base/status_macros.h"
#include "cli/common.h"

namespace kiln::cli {

void AddGcCommand(CLI::App& app, Globals& g) {
  CLI::App* cmd = app.add_subcommand(
      "gc", "Remove blobs, unpacked layers and build cache no image in the store needs");
  cmd->callback([&g] {
    g.run = [&g]() -> absl::Status {
      ASSIGN_OR_RETURN(auto store, OpenStore(g));
      ASSIGN_OR_RETURN(layers::Store::GcStats stats, store->Gc());
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
