// kiln pull REFERENCE: copies an image from a registry into the store under its name.
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "cli/common.h"
#include "cli/transfer_progress.h"
#include "oci/reference.h"

namespace kiln::cli {

void AddPullCommand(CLI::App& app, Globals& g) {
  struct Options {
    std::string ref, platform;
    bool all_platforms = false, quiet = false;
    std::string progress = "auto";
    bool signatures = false;
    std::string policy;
    RegistryFlags registry;
  };
  auto opts = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand("pull", "Pull an image from a registry into the store");
  cmd->add_option("REFERENCE", opts->ref, "Image reference (busybox, registry:5000/team/app:1)")
      ->required();
  cmd->add_option("--platform", opts->platform,
                  "Platform to pull out of a multi-platform image (default: this host's)");
  cmd->add_flag("--all-platforms", opts->all_platforms, "Pull every platform of an index");
  cmd->add_flag("-q,--quiet", opts->quiet, "Print only the digest");
  AddTransferProgressFlag(cmd, &opts->progress);
  cmd->add_flag("--signatures", opts->signatures,
                "Carry the image's signatures (its sha256-<digest>.sig manifest) along");
  AddPolicyFlag(cmd, &opts->policy);
  AddRegistryFlags(cmd, &opts->registry);
  cmd->callback([&g, opts] {
    g.run = [&g, opts]() -> absl::Status {
      TransferProgress progress(ChooseProgressMode(opts->progress, opts->quiet));
      return progress.Run(
          [&]() -> absl::Status {
            std::string text = opts->ref;
            if (text.rfind("docker://", 0) == 0) text = text.substr(9);
            ASSIGN_OR_RETURN(oci::Reference ref, oci::Reference::Parse(text));
            ASSIGN_OR_RETURN(transfer::TransportOptions topts,
                             MakeTransportOptions(opts->registry));
            layers::CopyOptions options;
            options.jobs = opts->registry.jobs;
            progress.Attach(options, &topts);
            if (!opts->all_platforms) {
              options.platform = oci::Platform::Host();
              if (!opts->platform.empty()) {
                ASSIGN_OR_RETURN(options.platform, oci::Platform::Parse(opts->platform));
              }
            }
            ASSIGN_OR_RETURN(auto store, OpenStore(g));
            transfer::ImageLocation src{transfer::Transport::kRegistry, "", ref.String()};
            transfer::ImageLocation dst{transfer::Transport::kStore, "", ref.String()};
            ASSIGN_OR_RETURN_CTX(auto source, transfer::OpenImageSource(src, store.get(), topts),
                                 "pulling ", ref.Familiar());
            RETURN_IF_ERROR(
                CheckIncoming(opts->policy, opts->quiet, src, *source, store.get(), topts));
            ASSIGN_OR_RETURN(auto dest, transfer::OpenImageDestination(dst, store.get(), topts));
            ASSIGN_OR_RETURN_CTX(oci::ManifestData top, layers::CopyImage(*source, *dest, options),
                                 "pulling ", ref.Familiar());
            if (opts->signatures) {
              RETURN_IF_ERROR(CarrySignatures(src, dst, top.digest, store.get(), topts,
                                              [&](const std::string& t) { progress.Message(t); }));
            }
            progress.Done(absl::StrCat("pulled ", ref.Familiar()), top.digest);
            std::printf("%s\n", top.digest.str().c_str());
            return absl::OkStatus();
          },
          &g.error_reported);
    };
  });
}

}  // namespace kiln::cli
