// kiln copy SRC [DST]: moves an image between the store, OCI layouts and archives. Without DST
// a docker-archive's image goes into the store under its own RepoTags, as `docker load` puts it.
#include <cstdio>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "cli/common.h"
#include "cli/transfer_progress.h"
#include "layers/docker_archive.h"
#include "transfer/transports.h"

namespace kiln::cli {

void AddCopyCommand(CLI::App& app, Globals& g) {
  struct Options {
    std::string src, dst, platform;
    RegistryFlags registry;
    bool quiet = false;
    std::string progress = "auto";
    bool signatures = false;
    bool all = false;
    std::string policy;
  };
  auto opts = std::make_shared<Options>();
  CLI::App* cmd =
      app.add_subcommand("copy",
                         "Copy an image between locations: NAME (the local store), oci:DIR[:TAG], "
                         "oci-archive:FILE[:TAG], docker-archive:FILE[:REF], docker://REFERENCE");
  cmd->add_option("SRC", opts->src, "Source image")->required();
  cmd->add_option("DST", opts->dst,
                  "Destination (default for a docker-archive: the store, under the archive's "
                  "names)");
  cmd->add_option("--platform", opts->platform,
                  "Copy only this platform (os/arch[/variant]) out of a multi-platform image");
  cmd->add_flag("-a,--all", opts->all,
                "Copy an index with every image in it, as skopeo's --all (what kiln does unless "
                "--platform is given)")
      ->excludes("--platform");
  cmd->add_flag("-q,--quiet", opts->quiet, "Print only the digest");
  AddTransferProgressFlag(cmd, &opts->progress);
  cmd->add_flag("--signatures", opts->signatures,
                "Carry the image's signatures (its sha256-<digest>.sig manifest) along");
  AddPolicyFlag(cmd, &opts->policy);
  AddRegistryFlags(cmd, &opts->registry);
  cmd->callback([&g, opts] {
    g.run = [&g, opts]() -> absl::Status {
      if (opts->dst.empty() && !absl::StartsWith(opts->src, "docker-archive:")) {
        g.exit_code = 2;  // a usage error, as CLI11's
        return absl::InvalidArgumentError(
            "DST is required (only a docker-archive source names its image in the store)");
      }
      TransferProgress progress(ChooseProgressMode(opts->progress, opts->quiet));
      return progress.Run(
          [&]() -> absl::Status {
            ASSIGN_OR_RETURN(transfer::ImageLocation src, transfer::ParseImageLocation(opts->src));
            // No DST: the docker-archive's image goes to the store under its RepoTags; the
            // archive unpacked here is the source too.
            std::unique_ptr<layers::DockerArchive> archive;
            size_t picked = 0;
            std::vector<std::string> more_names;  // the archive's names beyond the first
            if (opts->dst.empty()) {
              ASSIGN_OR_RETURN(archive, layers::DockerArchive::Open(src.path));
              ASSIGN_OR_RETURN(picked, archive->Pick(src.name));
              more_names = archive->tags()[picked];
              if (more_names.empty()) {
                return absl::InvalidArgumentError(
                    absl::StrCat(src.String(), " has no names (RepoTags): give a destination"));
              }
              opts->dst = more_names.front();
              more_names.erase(more_names.begin());
            }
            ASSIGN_OR_RETURN(transfer::ImageLocation dst, transfer::ParseImageLocation(opts->dst));
            // docker-archive:FILE of a store image: its name is the RepoTag, as docker save.
            if (dst.transport == transfer::Transport::kDockerArchive && dst.name.empty() &&
                src.transport == transfer::Transport::kStore &&
                layers::Store::CanonicalName(src.name).ok()) {
              dst.name = src.name;
            }
            ASSIGN_OR_RETURN(transfer::TransportOptions topts,
                             MakeTransportOptions(opts->registry));
            layers::CopyOptions options;
            options.jobs = opts->registry.jobs;
            progress.Attach(options, &topts);
            if (!opts->platform.empty()) {
              ASSIGN_OR_RETURN(options.platform, oci::Platform::Parse(opts->platform));
            }
            std::unique_ptr<layers::Store> store;
            if (src.transport == transfer::Transport::kStore ||
                dst.transport == transfer::Transport::kStore) {
              ASSIGN_OR_RETURN(store, OpenStore(g));
            }
            std::unique_ptr<layers::ImageSource> source;
            if (archive != nullptr) {
              ASSIGN_OR_RETURN(source, archive->Image(picked));
            } else {
              ASSIGN_OR_RETURN_CTX(source, transfer::OpenImageSource(src, store.get(), topts),
                                   "reading ", opts->src);
            }
            RETURN_IF_ERROR(
                CheckIncoming(opts->policy, opts->quiet, src, *source, store.get(), topts));
            ASSIGN_OR_RETURN_CTX(auto dest, transfer::OpenImageDestination(dst, store.get(), topts),
                                 "writing ", opts->dst);
            ASSIGN_OR_RETURN_CTX(oci::ManifestData top, layers::CopyImage(*source, *dest, options),
                                 "copying ", opts->src, " to ", opts->dst);
            for (const std::string& name : more_names) {
              RETURN_IF_ERROR(store->Tag(name, top.ToDescriptor()));
            }
            if (opts->signatures) {
              RETURN_IF_ERROR(CarrySignatures(src, dst, top.digest, store.get(), topts,
                                              [&](const std::string& t) { progress.Message(t); }));
            }
            progress.Done(absl::StrCat("copied ", src.String(), " to ", dst.String()), top.digest);
            std::printf("%s\n", top.digest.str().c_str());
            return absl::OkStatus();
          },
          &g.error_reported);
    };
  });
}

}  // namespace kiln::cli
