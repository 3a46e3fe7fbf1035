// kiln system df: what the store holds (images, the build cache's own layers, unused blobs,
// unpacked layers, RUN --mount caches), with sizes and what gc would free, in the columns of
// `docker system df` (kiln keeps no containers or volumes). `docker system prune` and
// `docker builder prune` are `kiln gc --build-cache` (command_line.h spells them so).
#include <cstdio>
#include <memory>

#include "absl/strings/str_format.h"
#include "base/status_macros.h"
#include "cli/common.h"
#include "cli/go_template.h"
#include "nlohmann/json.hpp"

namespace kiln::cli {
namespace {

struct DfOptions {
  std::string format = "table";
};

std::string Percent(uint64_t part, uint64_t whole) {
  return whole == 0 ? "0%" : absl::StrCat(part * 100 / whole, "%");
}

absl::Status RunDf(const Globals& g, const DfOptions& o) {
  ASSIGN_OR_RETURN(auto store, OpenStore(g));
  ASSIGN_OR_RETURN(layers::Store::Usage u, store->DiskUsage());
  const std::pair<const char*, const layers::Store::Usage::Row*> rows[] = {
      {"Images", &u.images},
      {"Build cache", &u.build_cache},
      {"Unused blobs", &u.unused},
      {"Unpacked layers", &u.snapshots},
      {"Cache mounts", &u.cache_mounts},
  };
  nlohmann::json out = nlohmann::json::array();
  for (const auto& [type, row] : rows) {
    out.push_back({{"Type", type},
                   {"TotalCount", row->count},
                   {"Size", HumanSize(row->bytes)},
                   {"Reclaimable", absl::StrCat(HumanSize(row->reclaimable), " (",
                                                Percent(row->reclaimable, row->bytes), ")")},
                   {"Bytes", row->bytes},
                   {"ReclaimableBytes", row->reclaimable}});
  }
  if (o.format == "table") {
    std::printf("%-16s %-7s %-10s %s\n", "TYPE", "TOTAL", "SIZE", "RECLAIMABLE");
    for (const nlohmann::json& r : out) {
      std::printf("%-16s %-7llu %-10s %s\n", r["Type"].get<std::string>().c_str(),
                  static_cast<unsigned long long>(r["TotalCount"].get<uint64_t>()),
                  r["Size"].get<std::string>().c_str(),
                  r["Reclaimable"].get<std::string>().c_str());
    }
    return absl::OkStatus();
  }
  for (const nlohmann::json& r : out) {
    if (o.format == "json") {
      std::printf("%s\n", r.dump().c_str());
    } else {
      ASSIGN_OR_RETURN(std::string line, RenderTemplate(o.format, r));
      std::printf("%s\n", line.c_str());
    }
  }
  return absl::OkStatus();
}

}  // namespace

void AddSystemCommand(CLI::App& app, Globals& g) {
  CLI::App* system = app.add_subcommand(
      "system", "The store as a whole: kiln system df (kiln gc frees, kiln fsck checks)");
  system->require_subcommand(1);
  auto o = std::make_shared<DfOptions>();
  CLI::App* df = system->add_subcommand(
      "df", "What the store holds and what kiln gc --build-cache would free (docker system df)");
  df->add_option("--format", o->format,
                 "table, json, or a template: {{.Type}} {{.TotalCount}} {{.Size}} "
                 "{{.Reclaimable}}");
  df->callback([&g, o] { g.run = [&g, o] { return RunDf(g, *o); }; });
}

}  // namespace kiln::cli
