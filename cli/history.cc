// kiln history IMAGE: the image's history, newest first, as `docker history` prints it
// (IMAGE, CREATED, CREATED BY, SIZE, COMMENT; --no-trunc, -q, --format table|json|TEMPLATE).
// A step's size is its layer's (compressed, as stored); steps that made no layer show 0B.
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
#include "base/status_macros.h"
#include "cli/common.h"
#include "cli/go_template.h"
#include "nlohmann/json.hpp"
#include "transfer/transports.h"

namespace kiln::cli {
namespace {

struct HistoryOptions {
  std::string image, format = "table", platform;
  bool no_trunc = false, quiet = false, human = true;
};

absl::Status RunHistory(const Globals& g, const HistoryOptions& o) {
  ASSIGN_OR_RETURN(transfer::ImageLocation loc, transfer::ParseImageLocation(o.image));
  oci::Platform platform = oci::Platform::Host();
  if (!o.platform.empty()) {
    ASSIGN_OR_RETURN(platform, oci::Platform::Parse(o.platform));
  }
  std::unique_ptr<layers::Store> store;
  if (loc.transport == transfer::Transport::kStore) {
    ASSIGN_OR_RETURN(store, OpenStore(g));
  }
  ASSIGN_OR_RETURN(auto source, transfer::OpenImageSource(loc, store.get()));
  ASSIGN_OR_RETURN_CTX(layers::LoadedImage image, layers::LoadImage(*source, platform), o.image);
  const std::vector<oci::HistoryEntry>& history = image.config.history;
  // Each entry that made a layer has the next layer, bottom first.
  std::vector<int64_t> sizes(history.size(), 0);
  size_t layer = 0;
  for (size_t i = 0; i < history.size(); ++i) {
    if (history[i].empty_layer) continue;
    if (layer < image.parsed.layers.size()) sizes[i] = image.parsed.layers[layer++].size;
  }
  const std::string id = image.parsed.config.digest.hex().substr(0, 12);
  nlohmann::json rows = nlohmann::json::array();
  for (size_t k = history.size(); k-- > 0;) {
    const oci::HistoryEntry& h = history[k];
    rows.push_back({{"ID", k + 1 == history.size() ? id : "<missing>"},
                    {"CreatedAt", h.created},
                    {"CreatedSince", HumanAgoOf(h.created)},
                    {"CreatedBy", h.created_by},
                    {"Size", HumanSize(static_cast<uint64_t>(sizes[k]))},
                    {"Comment", h.comment}});
  }
  if (o.quiet) {
    for (const nlohmann::json& r : rows) std::printf("%s\n", r["ID"].get<std::string>().c_str());
    return absl::OkStatus();
  }
  if (o.format == "json") {
    for (const nlohmann::json& r : rows) std::printf("%s\n", r.dump().c_str());
    return absl::OkStatus();
  }
  if (o.format != "table") {
    for (const nlohmann::json& r : rows) {
      ASSIGN_OR_RETURN(std::string line, RenderTemplate(o.format, r));
      std::printf("%s\n", line.c_str());
    }
    return absl::OkStatus();
  }
  std::printf("%-14s %-18s %-45s %-9s %s\n", "IMAGE", "CREATED", "CREATED BY", "SIZE", "COMMENT");
  for (const nlohmann::json& r : rows) {
    // One row per step: a heredoc's lines and tabs become spaces.
    std::string by =
        absl::StrReplaceAll(r["CreatedBy"].get<std::string>(), {{"\n", " "}, {"\t", " "}});
    if (!o.no_trunc && by.size() > 45) by = by.substr(0, 44) + "…";
    std::printf("%-14s %-18s %-45s %-9s %s\n", r["ID"].get<std::string>().c_str(),
                r["CreatedSince"].get<std::string>().c_str(), by.c_str(),
                r["Size"].get<std::string>().c_str(), r["Comment"].get<std::string>().c_str());
  }
  return absl::OkStatus();
}

}  // namespace

void AddHistoryCommand(CLI::App& app, Globals& g) {
  auto o = std::make_shared<HistoryOptions>();
  CLI::App* cmd = app.add_subcommand("history", "Show an image's history, newest first");
  cmd->add_option("IMAGE", o->image, "Image (store name or transport:...)")->required();
  cmd->add_flag("--no-trunc", o->no_trunc, "Do not cut the CREATED BY column");
  cmd->add_flag("-q,--quiet", o->quiet, "Only the image IDs");
  cmd->add_option("--format", o->format,
                  "table, json, or a template: {{.ID}} {{.CreatedSince}} {{.CreatedAt}} "
                  "{{.CreatedBy}} {{.Size}} {{.Comment}}");
  cmd->add_flag("-H,--human", o->human, "Human-readable sizes and dates (the only form)");
  cmd->add_option("--platform", o->platform, "Platform of a multi-platform image");
  cmd->callback([&g, o] { g.run = [&g, o] { return RunHistory(g, *o); }; });
}

}  // namespace kiln::cli
