// kiln rmi IMAGE...: removes images' names from the store (`kiln gc` frees the blobs). IMAGE
// is a name, or an image ID (a digest or a prefix of one, as `kiln images` prints it): the
// image's names go; when several name it, only with -f (as docker). -f also passes over
// images that are not there.
#include <cstdio>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "base/status_macros.h"
#include "cli/common.h"

namespace kiln::cli {
namespace {

// "sha256:1a2b…" or "1a2b…": at least 4 hex digits.
bool LooksLikeId(absl::string_view s) {
  absl::ConsumePrefix(&s, "sha256:");
  if (s.size() < 4) return false;
  for (char c : s) {
    if (!absl::ascii_isxdigit(static_cast<unsigned char>(c)) || absl::ascii_isupper(c)) {
      return false;
    }
  }
  return true;
}

absl::Status RemoveOne(layers::Store& store, const std::string& arg, bool force) {
  ASSIGN_OR_RETURN(auto images, store.List());
  for (const auto& [name, desc] : images) {
    if (name == arg || (layers::Store::CanonicalName(arg, true).ok() &&
                        name == *layers::Store::CanonicalName(arg, true))) {
      RETURN_IF_ERROR(store.Untag(arg));
      std::printf("Untagged: %s\n", name.c_str());
      return absl::OkStatus();
    }
  }
  absl::StatusOr<oci::Descriptor> found =
      LooksLikeId(arg) ? store.Resolve(arg) : absl::NotFoundError("");
  if (!found.ok()) {
    if (force) return absl::OkStatus();
    return absl::NotFoundError(absl::StrCat("no such image: ", arg));
  }
  std::vector<std::string> names;
  for (const auto& [name, desc] : images) {
    if (desc.digest == found->digest) names.push_back(name);
  }
  if (names.size() > 1 && !force) {
    return absl::FailedPreconditionError(
        absl::StrCat("unable to remove ", arg, " (must be forced): ", names.size(),
                     " names refer to it; give -f, or remove a name"));
  }
  for (const std::string& name : names) {
    RETURN_IF_ERROR(store.Untag(name));
    std::printf("Untagged: %s\n", name.c_str());
  }
  return absl::OkStatus();
}

}  // namespace

void AddRmiCommand(CLI::App& app, Globals& g) {
  auto names = std::make_shared<std::vector<std::string>>();
  auto force = std::make_shared<bool>(false);
  CLI::App* cmd = app.add_subcommand(
      "rmi", "Remove images (names or IDs) from the store; `kiln gc` then frees their blobs");
  cmd->add_option("IMAGE", *names, "Image names or IDs")->required();
  cmd->add_flag("-f,--force", *force,
                "Remove every name of an image ID; pass over images that are not there");
  cmd->callback([&g, names, force] {
    g.run = [&g, names, force]() -> absl::Status {
      ASSIGN_OR_RETURN(auto store, OpenStore(g));
      for (const std::string& name : *names) RETURN_IF_ERROR(RemoveOne(*store, name, *force));
      return absl::OkStatus();
    };
  });
}

}  // namespace kiln::cli
