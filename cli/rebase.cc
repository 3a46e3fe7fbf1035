// kiln rebase IMAGE --onto NEWBASE [--from OLDBASE] [-t NAME]: the image on another base
// without a rebuild (layers/rebase.h), into the store. The old base is --from, else the one
// the image's org.opencontainers.image.base.* annotations name (kiln build records them).
#include "layers/rebase.h"

#include <cstdio>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "cli/common.h"
#include "layers/image_commit.h"
#include "layers/layout_transport.h"
#include "nlohmann/json.hpp"
#include "oci/reference.h"
#include "transfer/transports.h"

namespace kiln::cli {
namespace {

struct RebaseOptions {
  std::string image, onto, from, platform;
  std::vector<std::string> tags;
  RegistryFlags registry;
};

// An image at a location, its source kept alive beside it.
struct Opened {
  std::unique_ptr<layers::ImageSource> source;
  layers::LoadedImage image;
};

absl::StatusOr<Opened> Open(const std::string& where, layers::Store& store,
                            const transfer::TransportOptions& options,
                            const oci::Platform& platform) {
  ASSIGN_OR_RETURN(transfer::ImageLocation loc, transfer::ParseImageLocation(where));
  Opened o;
  ASSIGN_OR_RETURN(o.source, transfer::OpenImageSource(loc, &store, options));
  ASSIGN_OR_RETURN_CTX(o.image, layers::LoadImage(*o.source, platform), where);
  return o;
}

// The old base the image's annotations name: by its digest (the name may point at a newer
// image by now), from the store's blobs, else from the named repository's registry.
absl::StatusOr<Opened> AnnotatedBase(const std::string& image_name,
                                     const layers::LoadedImage& image, layers::Store& store,
                                     const transfer::TransportOptions& options,
                                     const oci::Platform& platform) {
  const auto& a = image.parsed.annotations;
  auto name = a.find(layers::kBaseNameAnnotation);
  auto digest = a.find(layers::kBaseDigestAnnotation);
  if (digest == a.end()) {
    return absl::FailedPreconditionError(absl::StrCat(image_name, " does not name its base (no ",
                                                      layers::kBaseDigestAnnotation,
                                                      " annotation): give --from OLDBASE"));
  }
  const std::string what = absl::StrCat(name == a.end() ? "" : name->second + "@", digest->second);
  ASSIGN_OR_RETURN_CTX(oci::Digest d, oci::Digest::Parse(digest->second), "the old base ", what);
  if (!store.blobs().Has(d)) {
    absl::StatusOr<oci::Reference> ref =
        name == a.end() ? absl::NotFoundError("no name") : oci::Reference::Parse(name->second);
    if (!ref.ok()) {
      return absl::NotFoundError(
          absl::StrCat("the old base ", what, " is not in the store: give --from"));
    }
    ASSIGN_OR_RETURN_CTX(
        Opened o,
        Open(absl::StrCat("docker://", ref->Repository(), "@", d.str()), store, options, platform),
        "the old base ", what, " (not in the store)");
    return o;
  }
  ASSIGN_OR_RETURN(std::string bytes, store.blobs().ReadAll(d, 4 << 20));
  nlohmann::json j = nlohmann::json::parse(bytes, nullptr, false);
  oci::Descriptor desc;
  desc.digest = d;
  desc.size = static_cast<int64_t>(bytes.size());
  desc.media_type = j.is_object() ? j.value("mediaType", "") : "";
  Opened o;
  o.source = layers::NewBlobStoreSource(&store.blobs(), desc, /*verified=*/true);
  ASSIGN_OR_RETURN_CTX(o.image, layers::LoadImage(*o.source, platform), "the old base ", what);
  return o;
}

// The image's blobs (one platform's) into the store's blob store, where they are not yet.
absl::Status Gather(layers::ImageSource& source, layers::Store& store,
                    const oci::Platform& platform) {
  auto sink = layers::NewBlobStoreDestination(
      &store.blobs(), [](const oci::Descriptor&) { return absl::OkStatus(); });
  layers::CopyOptions copy;
  copy.platform = platform;
  return layers::CopyImage(source, *sink, copy).status();
}

absl::Status RunRebase(Globals& g, const RebaseOptions& o) {
  oci::Platform platform = oci::Platform::Host();
  if (!o.platform.empty()) {
    ASSIGN_OR_RETURN(platform, oci::Platform::Parse(o.platform));
  }
  ASSIGN_OR_RETURN(transfer::ImageLocation image_loc, transfer::ParseImageLocation(o.image));
  std::vector<std::string> tags = o.tags;
  if (tags.empty()) {
    if (image_loc.transport != transfer::Transport::kStore) {
      return absl::InvalidArgumentError("-t NAME: where the rebased image goes in the store");
    }
    tags.push_back(o.image);  // the store's name moves to the rebased image
  }
  for (const std::string& t : tags) RETURN_IF_ERROR(layers::Store::CanonicalName(t).status());
  ASSIGN_OR_RETURN(auto store, OpenStore(g));
  ASSIGN_OR_RETURN(transfer::TransportOptions options, MakeTransportOptions(o.registry));
  ASSIGN_OR_RETURN(Opened image, Open(o.image, *store, options, platform));
  Opened old_base;
  if (!o.from.empty()) {
    ASSIGN_OR_RETURN_CTX(old_base, Open(o.from, *store, options, platform), "--from");
  } else {
    ASSIGN_OR_RETURN(old_base, AnnotatedBase(o.image, image.image, *store, options, platform));
  }
  ASSIGN_OR_RETURN_CTX(Opened new_base, Open(o.onto, *store, options, platform), "--onto");
  ASSIGN_OR_RETURN_CTX(layers::Rebased rebased,
                       layers::Rebase(image.image, old_base.image, new_base.image), "rebasing ",
                       o.image);
  RETURN_IF_ERROR_CTX(Gather(*new_base.source, *store, platform), "--onto ", o.onto);
  RETURN_IF_ERROR_CTX(Gather(*image.source, *store, platform), o.image);
  std::map<std::string, std::string> annotations = image.image.parsed.annotations;
  ASSIGN_OR_RETURN(transfer::ImageLocation onto_loc, transfer::ParseImageLocation(o.onto));
  // A reference where there is one (the store's names and registries), else the location.
  std::string base_name = o.onto;
  if (onto_loc.transport == transfer::Transport::kStore ||
      onto_loc.transport == transfer::Transport::kRegistry) {
    if (absl::StatusOr<oci::Reference> ref = oci::Reference::Parse(onto_loc.name); ref.ok()) {
      base_name = ref->String();
    }
  }
  annotations[layers::kBaseNameAnnotation] = base_name;
  annotations[layers::kBaseDigestAnnotation] = new_base.image.top.digest.str();
  ASSIGN_OR_RETURN(oci::Descriptor made, layers::CommitImage(store->blobs(), rebased.config,
                                                             rebased.layers, nullptr, annotations));
  for (const std::string& t : tags) RETURN_IF_ERROR(store->Tag(t, made));
  std::fprintf(stderr, "rebased %s onto %s: %zu base layers, %zu of its own\n", o.image.c_str(),
               o.onto.c_str(), rebased.layers.size() - rebased.own_layers, rebased.own_layers);
  std::printf("%s\n", made.digest.str().c_str());
  return absl::OkStatus();
}

}  // namespace

void AddRebaseCommand(CLI::App& app, Globals& g) {
  auto o = std::make_shared<RebaseOptions>();
  CLI::App* cmd = app.add_subcommand(
      "rebase", "Put an image on another base without rebuilding it (its own layers kept)");
  cmd->add_option("IMAGE", o->image, "Image (store name or transport:...)")->required();
  cmd->add_option("--onto", o->onto, "The new base")->required();
  cmd->add_option("--from", o->from,
                  "The old base (default: the one the image's base annotations name)");
  cmd->add_option("-t,--tag", o->tags, "Name the result in the store (default: IMAGE's name)");
  cmd->add_option("--platform", o->platform, "Platform to rebase (default: this machine's)");
  AddRegistryFlags(cmd, &o->registry);
  cmd->callback([&g, o] { g.run = [&g, o] { return RunRebase(g, *o); }; });
}

}  // namespace kiln::cli
