// kiln diff A B: how two images (store names or transport:... locations, a registry's
// included) or two layer files differ: the config fields, the layers, and inside each
// differing layer the files, with the kind of each difference and a short diff for text.
// Exits 0 when they are the same, 1 when they differ, as diff(1) does.
#include <fcntl.h>
#include <sys/stat.h>

#include <cstdio>

#include "absl/strings/str_cat.h"
#include "base/io.h"
#include "base/status_macros.h"
#include "base/unique_fd.h"
#include "cli/common.h"
#include "layers/image_diff.h"
#include "nlohmann/json.hpp"
#include "transfer/transports.h"

namespace kiln::cli {
namespace {

struct DiffOptions {
  std::string a, b, format = "text", platform;
  RegistryFlags registry;
};

bool IsFile(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

absl::Status Print(const std::string& format, const nlohmann::json& json, const std::string& text) {
  if (format == "json") {
    std::printf("%s\n", json.dump(2, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
  } else {
    std::fputs(text.c_str(), stdout);
  }
  return absl::OkStatus();
}

// Two layer tars (any compression).
absl::Status DiffLayerFiles(Globals& g, const DiffOptions& o) {
  UniqueFd fa(::open(o.a.c_str(), O_RDONLY | O_CLOEXEC)),
      fb(::open(o.b.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fa.valid()) return ErrnoError("open " + o.a);
  if (!fb.valid()) return ErrnoError("open " + o.b);
  OwnedFdReader ra(std::move(fa)), rb(std::move(fb));
  ASSIGN_OR_RETURN(std::vector<layers::FileDifference> files, layers::DiffLayers(ra, rb));
  std::string summary =
      files.empty()
          ? "identical layers"
          : absl::StrCat(files.size(), files.size() == 1 ? " file differs" : " files differ");
  nlohmann::json j = {{"identical", files.empty()},
                      {"a", o.a},
                      {"b", o.b},
                      {"files", layers::FilesJson(files)},
                      {"summary", summary}};
  g.exit_code = files.empty() ? 0 : 1;
  return Print(o.format, j, layers::FormatFiles(files, "") + summary + "\n");
}

absl::Status RunDiff(Globals& g, const DiffOptions& o) {
  if (o.format != "text" && o.format != "json") {
    return absl::InvalidArgumentError(absl::StrCat("--format ", o.format, ": want text or json"));
  }
  const bool a_file = IsFile(o.a), b_file = IsFile(o.b);
  if (a_file && b_file) return DiffLayerFiles(g, o);
  if (a_file != b_file) {
    return absl::InvalidArgumentError(
        absl::StrCat("kiln diff compares two images or two layer files: ", a_file ? o.a : o.b,
                     " is a file, ", a_file ? o.b : o.a, " is not"));
  }
  ASSIGN_OR_RETURN(transfer::ImageLocation la, transfer::ParseImageLocation(o.a));
  ASSIGN_OR_RETURN(transfer::ImageLocation lb, transfer::ParseImageLocation(o.b));
  oci::Platform platform = oci::Platform::Host();
  if (!o.platform.empty()) {
    ASSIGN_OR_RETURN(platform, oci::Platform::Parse(o.platform));
  }
  std::unique_ptr<layers::Store> store;
  if (la.transport == transfer::Transport::kStore || lb.transport == transfer::Transport::kStore) {
    ASSIGN_OR_RETURN(store, OpenStore(g));
  }
  ASSIGN_OR_RETURN(transfer::TransportOptions options, MakeTransportOptions(o.registry));
  ASSIGN_OR_RETURN(auto sa, transfer::OpenImageSource(la, store.get(), options));
  ASSIGN_OR_RETURN(auto sb, transfer::OpenImageSource(lb, store.get(), options));
  ASSIGN_OR_RETURN_CTX(layers::LoadedImage ia, layers::LoadImage(*sa, platform), o.a);
  ASSIGN_OR_RETURN_CTX(layers::LoadedImage ib, layers::LoadImage(*sb, platform), o.b);
  ASSIGN_OR_RETURN(layers::ImageDifference d, layers::DiffImages(o.a, *sa, ia, o.b, *sb, ib));
  g.exit_code = d.identical() ? 0 : 1;
  return Print(o.format, layers::ImageDifferenceJson(d), layers::FormatImageDifference(d));
}

}  // namespace

void AddDiffCommand(CLI::App& app, Globals& g) {
  auto o = std::make_shared<DiffOptions>();
  CLI::App* cmd = app.add_subcommand(
      "diff", "Show how two images or two layer files differ (exit 1 when they do)");
  cmd->add_option("A", o->a, "Image (store name or transport:...) or layer file")->required();
  cmd->add_option("B", o->b, "Image or layer file")->required();
  cmd->add_option("--format", o->format, "text or json");
  cmd->add_option("--platform", o->platform,
                  "Platform to compare of multi-platform images (default: this machine's)");
  AddRegistryFlags(cmd, &o->registry);
  cmd->callback([&g, o] { g.run = [&g, o] { return RunDiff(g, *o); }; });
}

}  // namespace kiln::cli
