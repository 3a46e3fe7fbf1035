// kiln version.
#include <archive.h>
#include <openssl/opensslv.h>
#include <zstd.h>

#include <cstdio>

#include "cli/common.h"

namespace kiln::cli {

void AddVersionCommand(CLI::App& app, Globals& g) {
  CLI::App* cmd = app.add_subcommand("version", "Print kiln's version and its libraries'");
  cmd->callback([&g] {
    g.run = []() -> absl::Status {
      std::printf("kiln %s\n%s, zstd %s, %s\n", kVersion, archive_version_details(),
                  ZSTD_versionString(), OPENSSL_VERSION_TEXT);
      return absl::OkStatus();
    };
  });
}

}  // namespace kiln::cli
