// kiln tag SOURCE TARGET: gives a stored image another name.
#include "base/status_macros.h"
#include "cli/common.h"

namespace kiln::cli {

void AddTagCommand(CLI::App& app, Globals& g) {
  auto args = std::make_shared<std::pair<std::string, std::string>>();
  CLI::App* cmd = app.add_subcommand("tag", "Give an image in the store another name");
  cmd->add_option("SOURCE", args->first, "Image name or digest")->required();
  cmd->add_option("TARGET", args->second, "New name (NAME[:TAG])")->required();
  cmd->callback([&g, args] {
    g.run = [&g, args]() -> absl::Status {
      ASSIGN_OR_RETURN(auto store, OpenStore(g));
      ASSIGN_OR_RETURN(oci::Descriptor d, store->Resolve(args->first));
      return store->Tag(args->second, d);
    };
  });
}

}  // namespace kiln::cli
