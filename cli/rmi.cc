// kiln rmi NAME...: removes names from the store (`kiln gc` frees the blobs).
#include <cstdio>

#include "base/status_macros.h"
#include "cli/common.h"

namespace kiln::cli {

void AddRmiCommand(CLI::App& app, Globals& g) {
  auto names = std::make_shared<std::vector<std::string>>();
  CLI::App* cmd = app.add_subcommand(
      "rmi", "Remove image names from the store; `kiln gc` then frees unreferenced blobs");
  cmd->add_option("NAME", *names, "Image names")->required();
  cmd->callback([&g, names] {
    g.run = [&g, names]() -> absl::Status {
      ASSIGN_OR_RETURN(auto store, OpenStore(g));
      for (const std::string& name : *names) {
        RETURN_IF_ERROR(store->Untag(name));
        std::printf("Untagged: %s\n", name.c_str());
      }
      return absl::OkStatus();
    };
  });
}

}  // namespace kiln::cli
