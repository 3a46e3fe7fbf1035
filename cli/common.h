// What every verb of the command line shares: global options, opening the store, and the
// hook through which a verb hands main() the work to run after parsing.
#ifndef KILN_CLI_COMMON_H_
#define KILN_CLI_COMMON_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "CLI/CLI.hpp"
#include "absl/status/statusor.h"
#include "base/version.h"
#include "layers/image_transfer.h"
#include "layers/store.h"
#include "transfer/transports.h"
#include "trust/policy.h"

namespace kiln::cli {

inline constexpr const char* kVersion = kKilnVersion;

struct Globals {
  std::string root;                   // --root; empty: Store::DefaultRoot()
  std::function<absl::Status()> run;  // set by the chosen verb's parse callback
  // The verb reported its own error (a JSON progress stream's last event): main prints none.
  mutable bool error_reported = false;
  // What main() returns when the verb succeeded (kiln diff: 1 when the images differ), or,
  // when not 0, when it failed (kiln run: 125, as docker run).
  int exit_code = 0;
};

absl::StatusOr<std::unique_ptr<layers::Store>> OpenStore(const Globals& g);

// A store name as docker splits it: repository and tag ("<none>" for a digest name).
std::pair<std::string, std::string> RepositoryAndTag(const std::string& name);

// "12.3MB", as docker prints sizes.
std::string HumanSize(uint64_t bytes);

// The source date: the flag if given, else $SOURCE_DATE_EPOCH, else nullopt.
absl::StatusOr<std::optional<int64_t>> SourceDateEpoch(const std::optional<int64_t>& flag);

// Flags of every verb that talks to registries.
struct RegistryFlags {
  bool tls_verify = true;
  std::string cert_dir;
  std::string creds;  // "user[:password]"
  std::string authfile;
  int jobs = 4;
  std::vector<std::string> registry_mirrors;  // [PREFIX=]LOCATION
  std::string registries_conf;                // default: registries.conf's search
};
void AddRegistryFlags(CLI::App* cmd, RegistryFlags* flags);
// --signature-policy of the verbs that take images in (pull, copy, build).
void AddPolicyFlag(CLI::App* cmd, std::string* path);
// The policy --signature-policy or the default files give; null (said once on stderr) when
// there is none, which accepts every image.
absl::StatusOr<std::shared_ptr<const trust::Policy>> LoadPolicy(const std::string& flag,
                                                                bool quiet);
// An image coming in from `src` (pull, copy) checked against the policy `policy_flag` selects.
absl::Status CheckIncoming(const std::string& policy_flag, bool quiet,
                           const transfer::ImageLocation& src, layers::ImageSource& source,
                           layers::Store* store, const transfer::TransportOptions& options);
// --signatures: the signatures of `digest` copied from beside `src` to beside `dst`; `say`
// reports whether there were any.
absl::Status CarrySignatures(const transfer::ImageLocation& src, const transfer::ImageLocation& dst,
                             const oci::Digest& digest, layers::Store* store,
                             const transfer::TransportOptions& options,
                             const std::function<void(const std::string&)>& say);
absl::StatusOr<transfer::TransportOptions> MakeTransportOptions(const RegistryFlags& flags);

// One function per verb (each in its own file) adds its subcommand to `app`.
void AddCopyCommand(CLI::App& app, Globals& g);
void AddImagesCommand(CLI::App& app, Globals& g);
void AddInspectCommand(CLI::App& app, Globals& g);
void AddDiffCommand(CLI::App& app, Globals& g);
void AddRebaseCommand(CLI::App& app, Globals& g);
void AddHistoryCommand(CLI::App& app, Globals& g);
void AddSaveLoadCommands(CLI::App& app, Globals& g);
void AddTagCommand(CLI::App& app, Globals& g);
void AddRmiCommand(CLI::App& app, Globals& g);
void AddGcCommand(CLI::App& app, Globals& g);
void AddSystemCommand(CLI::App& app, Globals& g);
void AddCompletionCommand(CLI::App& app, Globals& g);
void AddFsckCommand(CLI::App& app, Globals& g);
void AddVersionCommand(CLI::App& app, Globals& g);
void AddLayerCommand(CLI::App& app, Globals& g);
void AddImageCommand(CLI::App& app, Globals& g);
void AddDockerfileCommand(CLI::App& app, Globals& g);
void AddBuildCommand(CLI::App& app, Globals& g);
void AddRunCommand(CLI::App& app, Globals& g);
void AddPullCommand(CLI::App& app, Globals& g);
void AddPushCommand(CLI::App& app, Globals& g);
void AddLoginCommands(CLI::App& app, Globals& g);
void AddTagsCommand(CLI::App& app, Globals& g);
void AddSignCommands(CLI::App& app, Globals& g);  // key, sign, verify
void AddSbomCommand(CLI::App& app, Globals& g);

}  // namespace kiln::cli

#endif  // KILN_CLI_COMMON_H_
