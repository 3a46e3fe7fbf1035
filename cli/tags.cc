// kiln tags REPOSITORY: lists the tags a registry holds for a repository.
#include <cstdio>

#include "base/status_macros.h"
#include "cli/common.h"
#include "oci/reference.h"
#include "registry/client.h"

namespace kiln::cli {

void AddTagsCommand(CLI::App& app, Globals& g) {
  struct Options {
    std::string repo;
    int page_size = 1000;
    RegistryFlags registry;
  };
  auto opts = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand("tags", "List the tags of a registry repository");
  cmd->add_option("REPOSITORY", opts->repo, "Repository (registry:5000/team/app)")->required();
  cmd->add_option("--page-size", opts->page_size, "Tags asked for per request")
      ->check(CLI::Range(1, 10000));
  AddRegistryFlags(cmd, &opts->registry);
  cmd->callback([&g, opts] {
    g.run = [opts]() -> absl::Status {
      std::string text = opts->repo;
      if (text.rfind("docker://", 0) == 0) text = text.substr(9);
      ASSIGN_OR_RETURN(oci::Reference ref, oci::Reference::Parse(text));
      if (!ref.tag().empty() || ref.digest()) {
        return absl::InvalidArgumentError("name a repository, without a tag or digest");
      }
      ASSIGN_OR_RETURN(transfer::TransportOptions topts, MakeTransportOptions(opts->registry));
      ASSIGN_OR_RETURN(auto reg, registry::Registry::Connect(ref.domain(), topts.registry));
      ASSIGN_OR_RETURN(std::vector<std::string> tags, reg->ListTags(ref.path(), opts->page_size));
      for (const std::string& t : tags) std::printf("%s\n", t.c_str());
      return absl::OkStatus();
    };
  });
}

}  // namespace kiln::cli
