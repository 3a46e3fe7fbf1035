// kiln gc: removes blobs that no named image reaches.
#include <cstdio>

#include "base/status_macros.h"
#include "cli/common.h"

namespace kiln::cli {

void AddGcCommand(CLI::App& app, Globals& g) {
  CLI::App* cmd = app.add_subcommand("gc", "Remove blobs no image in the store refers to");
  cmd->callback([&g] {
    g.run = [&g]() -> absl::Status {
      ASSIGN_OR_RETURN(auto store, OpenStore(g));
      ASSIGN_OR_RETURN(layers::Store::GcStats stats, store->Gc());
      std::printf("removed %llu blobs (%s), kept %llu\n",
                  static_cast<unsigned long long>(stats.removed_blobs),
                  HumanSize(stats.removed_bytes).c_str(),
                  static_cast<unsigned long long>(stats.kept_blobs));
      return absl::OkStatus();
    };
  });
}

}  // namespace kiln::cli
