// kiln fsck: verifies every blob and every name in the store.
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "cli/common.h"

namespace kiln::cli {

void AddFsckCommand(CLI::App& app, Globals& g) {
  CLI::App* cmd = app.add_subcommand(
      "fsck", "Verify every blob's digest and that every image's blobs are present and sound");
  cmd->callback([&g] {
    g.run = [&g]() -> absl::Status {
      ASSIGN_OR_RETURN(auto store, OpenStore(g));
      ASSIGN_OR_RETURN(layers::Store::FsckReport report, store->Fsck());
      for (const std::string& p : report.problems) std::printf("%s\n", p.c_str());
      if (!report.problems.empty()) {
        return absl::DataLossError(absl::StrCat("the store at ", store->root(), " is damaged: ",
                                                report.problems.size(), " problem(s)"));
      }
      std::printf("checked %llu blobs: no problems\n",
                  static_cast<unsigned long long>(report.blobs_checked));
      if (report.remote_blobs > 0) {
        std::printf("%llu layers are not local: their origins serve them when read\n",
                    static_cast<unsigned long long>(report.remote_blobs));
      }
      return absl::OkStatus();
    };
  });
}

}  // namespace kiln::cli
