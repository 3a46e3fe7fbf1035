#include "builder/sandbox/network.h"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iterator>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "base/spawn_attr.h"
#include "base/status_macros.h"
#include "builder/sandbox/namespace_holder.h"

extern char** environ;

namespace kiln::builder::sandbox {
namespace {

constexpr int kStartTimeoutMs = 10000;

// A copy of `fd` numbered at least 10, so spawning can move it to 3..5 without clashing.
absl::StatusOr<UniqueFd> HighCopy(int fd) {
  UniqueFd copy(::fcntl(fd, F_DUPFD_CLOEXEC, 10));
  if (!copy.valid()) return ErrnoError("dup");
  return copy;
}

std::string ReadAll(int fd) {
  std::string out;
  char buf[4096];
  ssize_t n;
  ::lseek(fd, 0, SEEK_SET);
  while ((n = ::read(fd, buf, sizeof buf)) > 0 && out.size() < (64 << 10)) out.append(buf, n);
  return std::string(absl::StripAsciiWhitespace(out));
}

}  // namespace

std::string PrivateResolvConf(absl::string_view host_resolv_conf) {
  std::string out = "nameserver 10.0.2.3\n";
  for (absl::string_view line : absl::StrSplit(host_resolv_conf, '\n')) {
    absl::string_view l = absl::StripLeadingAsciiWhitespace(line);
    if (absl::StartsWith(l, "search ") || absl::StartsWith(l, "domain ") ||
        absl::StartsWith(l, "options ")) {
      absl::StrAppend(&out, l, "\n");
    }
  }
  return out;
}

NetworkPool::NetworkPool(int userns_fd, std::string slirp4netns)
    : userns_fd_(userns_fd), slirp4netns_(std::move(slirp4netns)) {}

NetworkPool::~NetworkPool() {
  for (auto& network : networks_) {
    network->exit_write.Reset();
    int status;
    while (::waitpid(network->pid, &status, 0) < 0 && errno == EINTR) {
    }
  }
}

// Long by design: starting slirp4netns is one handshake (namespace, process, ready pipe,
// addresses) whose failure paths share cleanup.
absl::StatusOr<std::unique_ptr<NetworkPool::Network>> NetworkPool::Start() {
  // slirp4netns makes the step's tap device; rootless, the user itself must be able to open
  // the tun device for that (Debian's udev rules make it crw-rw-rw-).
  if (::access("/dev/net/tun", R_OK | W_OK) != 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the private network of RUN steps needs /dev/net/tun readable and writable by the user "
        "kiln runs as (",
        std::strerror(errno),
        "); or build with --network=none or "
        "--network=host"));
  }
  auto network = std::make_unique<Network>();
  ASSIGN_OR_RETURN(network->netns, NewNamespace(CLONE_NEWNET, "net", userns_fd_));
  int ready[2], exit_pipe[2];
  if (::pipe2(ready, O_CLOEXEC) != 0 || ::pipe2(exit_pipe, O_CLOEXEC) != 0) {
    return ErrnoError("pipe");
  }
  UniqueFd ready_read(ready[0]), ready_write(ready[1]);
  UniqueFd exit_read(exit_pipe[0]);
  network->exit_write.Reset(exit_pipe[1]);
  UniqueFd log(::memfd_create("slirp4netns", MFD_CLOEXEC));
  if (!log.valid()) return ErrnoError("memfd_create");
  ASSIGN_OR_RETURN(UniqueFd netns, HighCopy(network->netns.get()));
  ASSIGN_OR_RETURN(UniqueFd ready_fd, HighCopy(ready_write.get()));
  ASSIGN_OR_RETURN(UniqueFd exit_fd, HighCopy(exit_read.get()));
  ready_write.Reset();
  exit_read.Reset();

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, log.get(), 1);
  posix_spawn_file_actions_adddup2(&actions, log.get(), 2);
  posix_spawn_file_actions_adddup2(&actions, netns.get(), 3);
  posix_spawn_file_actions_adddup2(&actions, ready_fd.get(), 4);
  posix_spawn_file_actions_adddup2(&actions, exit_fd.get(), 5);
  // --disable-host-loopback: the gateway address does not lead to the host's 127.0.0.1.
  // --enable-sandbox: slirp4netns itself runs in an empty root with no capabilities left.
  std::vector<std::string> args = {slirp4netns_,
                                   "--configure",
                                   "--mtu=65520",
                                   "--disable-host-loopback",
                                   "--enable-sandbox",
                                   "--enable-seccomp",
                                   "--netns-type=path",
                                   "--ready-fd=4",
                                   "--exit-fd=5",
                                   "/proc/self/fd/3",
                                   "eth0"};
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  int rc = ::posix_spawnp(&network->pid, slirp4netns_.c_str(), &actions, SpawnAttr().get(),
                          argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  ready_fd.Reset();
  exit_fd.Reset();
  if (rc != 0) {
    if (rc == ENOENT) {
      return absl::FailedPreconditionError(absl::StrCat(
          "the private network of RUN steps needs ", slirp4netns_,
          " (Debian package slirp4netns); or build with --network=none or --network=host"));
    }
    return ErrnoError("start " + slirp4netns_, rc);
  }
  pollfd p = {ready_read.get(), POLLIN, 0};
  int ready_now = ::poll(&p, 1, kStartTimeoutMs);
  char c = 0;
  if (ready_now == 1 && ::read(ready_read.get(), &c, 1) == 1) return network;
  ::kill(network->pid, SIGKILL);
  int status;
  while (::waitpid(network->pid, &status, 0) < 0 && errno == EINTR) {
  }
  network->pid = -1;
  std::string output = ReadAll(log.get());
  return absl::UnavailableError(absl::StrCat(slirp4netns_, " did not bring the step's network up",
                                             ready_now == 0 ? " in time" : "",
                                             output.empty() ? "" : ": ", output));
}

absl::StatusOr<NetworkPool::Lease> NetworkPool::Acquire() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (size_t i = 0; i < networks_.size(); ++i) {
      if (!networks_[i]->busy) {
        networks_[i]->busy = true;
        return Lease(this, i);
      }
    }
  }
  ASSIGN_OR_RETURN(std::unique_ptr<Network> network, Start());
  std::lock_guard<std::mutex> lock(mu_);
  network->busy = true;
  networks_.push_back(std::move(network));
  return Lease(this, networks_.size() - 1);
}

void NetworkPool::Release(size_t index) {
  std::lock_guard<std::mutex> lock(mu_);
  networks_[index]->busy = false;
}

NetworkPool::Lease::Lease(Lease&& other) noexcept : pool_(other.pool_), index_(other.index_) {
  other.pool_ = nullptr;
}

NetworkPool::Lease::~Lease() {
  if (pool_ != nullptr) pool_->Release(index_);
}

int NetworkPool::Lease::netns_fd() const {
  std::lock_guard<std::mutex> lock(pool_->mu_);
  return pool_->networks_[index_]->netns.get();
}

}  // namespace kiln::builder::sandbox
