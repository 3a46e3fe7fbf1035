// kiln sbom IMAGE: what an image holds, by its package databases, as SPDX 2.3 JSON or a table.
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "cli/common.h"
#include "layers/image_transfer.h"
#include "transfer/image_location.h"
#include "transfer/transports.h"
#include "trust/inventory.h"
#include "trust/spdx.h"

namespace kiln::cli {

void AddSbomCommand(CLI::App& app, Globals& g) {
  struct Options {
    std::string image, format = "spdx-json", platform;
    RegistryFlags registry;
  };
  auto o = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand(
      "sbom", "List the packages an image holds (dpkg, apk) as SPDX 2.3 JSON or a table");
  cmd->add_option("IMAGE", o->image, "An image in the store, or any copy location")->required();
  cmd->add_option("--format", o->format, "spdx-json or table")
      ->check(CLI::IsMember({"spdx-json", "table"}));
  cmd->add_option("--platform", o->platform, "The platform of a multi-platform image");
  AddRegistryFlags(cmd, &o->registry);
  cmd->callback([&g, o] {
    g.run = [&g, o]() -> absl::Status {
      ASSIGN_OR_RETURN(transfer::ImageLocation loc, transfer::ParseImageLocation(o->image));
      ASSIGN_OR_RETURN(transfer::TransportOptions topts, MakeTransportOptions(o->registry));
      std::unique_ptr<layers::Store> store;
      if (loc.transport == transfer::Transport::kStore) {
        ASSIGN_OR_RETURN(store, OpenStore(g));
      }
      oci::Platform platform = oci::Platform::Host();
      if (!o->platform.empty()) {
        ASSIGN_OR_RETURN(platform, oci::Platform::Parse(o->platform));
      }
      ASSIGN_OR_RETURN_CTX(auto source, transfer::OpenImageSource(loc, store.get(), topts),
                           o->image);
      ASSIGN_OR_RETURN_CTX(layers::LoadedImage image, layers::LoadImage(*source, platform),
                           o->image);
      ASSIGN_OR_RETURN_CTX(trust::Inventory inv, trust::InventoryOf(*source, image.parsed.layers),
                           "reading the packages of ", o->image);
      if (o->format == "table") {
        std::printf("%-5s %-32s %-28s %-14s %s\n", "TYPE", "NAME", "VERSION", "LAYER", "PURL");
        for (const trust::FoundPackage& f : inv.packages) {
          std::printf("%-5s %-32s %-28s %-14s %s\n", f.package.type.c_str(), f.package.name.c_str(),
                      f.package.version.c_str(), f.layer.Short().c_str(), f.purl.c_str());
        }
        return absl::OkStatus();
      }
      trust::SpdxSubject subject;
      subject.name = loc.transport == transfer::Transport::kStore ? o->image : loc.String();
      subject.digest = image.manifest.digest;
      subject.created =
          image.config.created.empty() ? "1970-01-01T00:00:00Z" : image.config.created;
      subject.tool = absl::StrCat("kiln-", kVersion);
      std::fputs(trust::SpdxDocument(inv, subject).c_str(), stdout);
      return absl::OkStatus();
    };
  });
}

}  // namespace kiln::cli
