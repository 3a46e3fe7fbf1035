// kiln push NAME [DESTINATION]: copies an image from the store to a registry (by default the
// one its name says).
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "cli/common.h"
#include "cli/transfer_progress.h"
#include "oci/reference.h"

namespace kiln::cli {

void AddPushCommand(CLI::App& app, Globals& g) {
  struct Options {
    std::string name, dest;
    bool quiet = false;
    std::string progress = "auto";
    bool signatures = false;
    RegistryFlags registry;
  };
  auto opts = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand("push", "Push an image from the store to a registry");
  cmd->add_option("NAME", opts->name, "Image in the store")->required();
  cmd->add_option("DESTINATION", opts->dest,
                  "Where to (docker://REFERENCE or any copy destination; default: NAME's "
                  "registry)");
  cmd->add_flag("-q,--quiet", opts->quiet, "Print only the digest");
  AddTransferProgressFlag(cmd, &opts->progress);
  cmd->add_flag("--signatures", opts->signatures,
                "Carry the image's signatures (its sha256-<digest>.sig manifest) along");
  AddRegistryFlags(cmd, &opts->registry);
  cmd->callback([&g, opts] {
    g.run = [&g, opts]() -> absl::Status {
      TransferProgress progress(ChooseProgressMode(opts->progress, opts->quiet));
      return progress.Run(
          [&]() -> absl::Status {
            ASSIGN_OR_RETURN(transfer::TransportOptions topts,
                             MakeTransportOptions(opts->registry));
            transfer::ImageLocation dst;
            if (opts->dest.empty()) {
              ASSIGN_OR_RETURN(oci::Reference ref, oci::Reference::Parse(opts->name));
              dst = {transfer::Transport::kRegistry, "", ref.String()};
            } else {
              std::string d = opts->dest;
              // A bare reference names a registry here, not the store.
              if (d.find("://") == std::string::npos && d.find(':') != 0 &&
                  d.rfind("oci:", 0) != 0 && d.rfind("oci-archive:", 0) != 0 &&
                  d.rfind("docker-archive:", 0) != 0) {
                d = "docker://" + d;
              }
              ASSIGN_OR_RETURN(dst, transfer::ParseImageLocation(d));
            }
            layers::CopyOptions options;
            options.jobs = opts->registry.jobs;
            progress.Attach(options, &topts);
            ASSIGN_OR_RETURN(auto store, OpenStore(g));
            transfer::ImageLocation src{transfer::Transport::kStore, "", opts->name};
            ASSIGN_OR_RETURN(auto source, transfer::OpenImageSource(src, store.get(), topts));
            ASSIGN_OR_RETURN_CTX(auto dest, transfer::OpenImageDestination(dst, store.get(), topts),
                                 "pushing to ", dst.String());
            ASSIGN_OR_RETURN_CTX(oci::ManifestData top, layers::CopyImage(*source, *dest, options),
                                 "pushing ", opts->name, " to ", dst.String());
            if (opts->signatures) {
              RETURN_IF_ERROR(CarrySignatures(src, dst, top.digest, store.get(), topts,
                                              [&](const std::string& t) { progress.Message(t); }));
            }
            progress.Done(absl::StrCat("pushed ", dst.String()), top.digest);
            std::printf("%s\n", top.digest.str().c_str());
            return absl::OkStatus();
          },
          &g.error_reported);
    };
  });
}

}  // namespace kiln::cli
