#include "cli/build_check.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/file_util.h"
#include "base/status_macros.h"
#include "builder/executor.h"
#include "layers/image_diff.h"

namespace kiln::cli {
namespace {

// Each platform's image of the two, compared; an error carrying the summary when one differs
// (the whole account goes to stderr first).
absl::Status Compare(layers::ImageSource& first_source, const std::string& first_name,
                     layers::ImageSource& other_source, const std::string& other_name,
                     const builder::BuildResult& first,
                     const std::function<void(const std::string&)>& say) {
  std::vector<oci::Platform> platforms = first.platforms;
  if (platforms.empty()) platforms.push_back(oci::Platform::Host());
  std::vector<std::string> differing;
  for (const oci::Platform& p : platforms) {
    ASSIGN_OR_RETURN_CTX(layers::LoadedImage a, layers::LoadImage(first_source, p), first_name);
    ASSIGN_OR_RETURN_CTX(layers::LoadedImage b, layers::LoadImage(other_source, p), other_name);
    ASSIGN_OR_RETURN(layers::ImageDifference d,
                     layers::DiffImages(first_name, first_source, a, other_name, other_source, b));
    if (d.identical()) continue;
    std::fprintf(stderr, "%s", layers::FormatImageDifference(d).c_str());
    differing.push_back(platforms.size() > 1 ? absl::StrCat(p.str(), ": ", layers::SummaryOf(d))
                                             : layers::SummaryOf(d));
  }
  if (!differing.empty()) {
    return absl::FailedPreconditionError(absl::StrCat("not reproducible: ", first_name, " and ",
                                                      other_name,
                                                      " differ: ", absl::StrJoin(differing, "; ")));
  }
  say(absl::StrCat("reproducible: ", other_name, " is the same image"));
  return absl::OkStatus();
}

// The store's blob files hard-linked into the scratch store's (it lies under the store's root:
// the same file system), and its names.
absl::Status ShareImages(layers::Store& store, layers::Store& scratch) {
  const std::string from = Dirname(store.blobs().PathOf(oci::Digest::Of("")));
  const std::string to = Dirname(scratch.blobs().PathOf(oci::Digest::Of("")));
  RETURN_IF_ERROR(MakeDirs(to));
  ASSIGN_OR_RETURN(std::vector<std::string> names, ListDir(from));
  for (const std::string& name : names) {
    const std::string src = from + "/" + name, dst = to + "/" + name;
    if (::link(src.c_str(), dst.c_str()) != 0 && errno != EEXIST) {
      return ErrnoError(absl::StrCat("link ", src, " to ", dst));
    }
  }
  ASSIGN_OR_RETURN(auto images, store.List());
  for (const auto& [name, desc] : images) RETURN_IF_ERROR(scratch.Tag(name, desc));
  return absl::OkStatus();
}

}  // namespace

absl::Status CheckReproducible(layers::Store& store, builder::BuildRequest req,
                               const builder::BuildResult& first,
                               const std::function<void(const std::string&)>& say) {
  say("--check-reproducible: building again in a scratch store");
  ASSIGN_OR_RETURN(TempDir dir, TempDir::Create(store.root() + "/run/check-"));
  ASSIGN_OR_RETURN(std::unique_ptr<layers::Store> scratch,
                   layers::Store::Open(dir.path() + "/store"));
  RETURN_IF_ERROR_CTX(ShareImages(store, *scratch), "--check-reproducible: the scratch store");
  // Nothing leaves the scratch store, and nothing comes from a cache or a newer base.
  req.tags.clear();
  req.outputs.clear();
  req.files_outputs.clear();
  req.push = false;
  req.pull = false;
  req.no_cache = true;
  req.cache_from.clear();
  req.cache_to.clear();
  ASSIGN_OR_RETURN_CTX(builder::BuildResult second,
                       builder::Build(*scratch, req, [](const builder::BuildEvent&) {}),
                       "--check-reproducible: the second build");
  auto first_source = transfer::NewStoreSource(&store, first.manifest, {});
  auto second_source = transfer::NewStoreSource(scratch.get(), second.manifest, {});
  return Compare(*first_source, "this build", *second_source, "a second build in a scratch store",
                 first, say);
}

absl::Status CheckAgainst(layers::Store& store, const std::string& against,
                          const transfer::TransportOptions& options,
                          const builder::BuildResult& first,
                          const std::function<void(const std::string&)>& say) {
  ASSIGN_OR_RETURN_CTX(transfer::ImageLocation loc, transfer::ParseImageLocation(against),
                       "--check-against");
  ASSIGN_OR_RETURN_CTX(auto other, transfer::OpenImageSource(loc, &store, options),
                       "--check-against ", against);
  auto first_source = transfer::NewStoreSource(&store, first.manifest, {});
  return Compare(*first_source, "this build", *other, against, first, say);
}

}  // namespace kiln::cli
