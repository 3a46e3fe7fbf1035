// SSH agent forwarding for RUN --mount=type=ssh. `--ssh` names agents: `default` (the
// agent of $SSH_AUTH_SOCK), `ID=SOCKET` (an agent's socket), or `ID=KEYFILE[,KEYFILE…]`
// (private keys, which an ssh-agent of the build's own holds: Debian's openssh-client).
// A step never sees the agent's own socket: it gets a socket of its own in its step
// directory, owned by the mount's uid/gid with its mode, whose connections kiln relays to the
// agent, so the agent's keys are used but never read, and only while the step runs.
#ifndef KILN_BUILDER_SSH_AGENT_H_
#define KILN_BUILDER_SSH_AGENT_H_

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "base/file_util.h"
#include "base/unique_fd.h"

namespace kiln::builder {

struct SshSource {
  std::string socket;             // an agent's socket, or
  std::vector<std::string> keys;  // private key files for an agent of kiln's own
};
using SshSources = std::map<std::string, SshSource>;

// One `--ssh` value; `getenv` reads SSH_AUTH_SOCK for `default`.
absl::Status AddSshSource(
    absl::string_view spec,
    const std::function<std::optional<std::string>(const std::string&)>& getenv, SshSources* out);

// An ssh-agent holding `keys` (ssh-agent -D -a …, then ssh-add), listening in a directory of
// its own under /tmp (a socket's path must be short); stopped with the object. The agent
// gets SIGTERM when the thread that started it ends, so start it from one that outlives its
// use (the build's own).
class OwnAgent {
 public:
  static absl::StatusOr<std::unique_ptr<OwnAgent>> Start(const std::vector<std::string>& keys);
  ~OwnAgent();
  const std::string& socket() const { return socket_; }

 private:
  OwnAgent(TempDir dir, std::string socket, pid_t pid)
      : dir_(std::move(dir)), socket_(std::move(socket)), pid_(pid) {}
  TempDir dir_;
  std::string socket_;
  pid_t pid_;
};

// A socket at `path` (owned by uid:gid, with `mode`) whose connections are relayed to the
// agent at `agent`, until the object goes (connections still open are closed then).
class AgentForward {
 public:
  static absl::StatusOr<std::unique_ptr<AgentForward>> Start(const std::string& agent,
                                                             const std::string& path, uint32_t uid,
                                                             uint32_t gid, uint32_t mode);
  ~AgentForward();

 private:
  AgentForward(std::string agent, UniqueFd listener, UniqueFd stop_read, UniqueFd stop_write);
  void Serve();
  void Relay(UniqueFd client);

  std::string agent_;
  UniqueFd listener_, stop_read_, stop_write_;
  std::mutex mu_;
  std::vector<std::thread> relays_;  // under mu_
  std::thread server_;
};

}  // namespace kiln::builder

#endif  // KILN_BUILDER_SSH_AGENT_H_
