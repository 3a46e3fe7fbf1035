// The private network of RUN steps: each step gets a network namespace of its own (never the
// host's) whose only way out is slirp4netns, a user-mode TCP/IP stack that makes the step's
// connections from the host's sockets. It is started with --disable-host-loopback, so the
// host's loopback services and (being another namespace) its abstract unix sockets and
// interfaces stay out of reach; the step sees `lo` and `eth0`, as under Docker (10.0.2.100/24,
// gateway 10.0.2.2), and resolves names through slirp4netns' DNS forwarder at 10.0.2.3.
//
// Namespaces are pooled: one is made (and slirp4netns started for it) when no idle one is
// left, lent to one step at a time and taken back when the step ends, so a build pays the
// start-up once per concurrent step, not once per step. The pool is thread-safe.
#ifndef KILN_BUILDER_SANDBOX_NETWORK_H_
#define KILN_BUILDER_SANDBOX_NETWORK_H_

#include <sys/types.h>

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "base/unique_fd.h"

namespace kiln::builder::sandbox {

// What a step's /etc/resolv.conf says on the private network: the forwarder, then the host's
// search and options lines.
std::string PrivateResolvConf(absl::string_view host_resolv_conf);

class NetworkPool {
 public:
  // Namespaces are owned by the user namespace `userns_fd` (the steps' own; -1: the one kiln
  // runs in), so the steps' root may configure and sniff only them.
  explicit NetworkPool(int userns_fd, std::string slirp4netns = "slirp4netns");
  ~NetworkPool();  // stops every slirp4netns

  class Lease {
   public:
    Lease(Lease&& other) noexcept;
    Lease& operator=(Lease&&) = delete;
    ~Lease();  // gives the namespace back
    int netns_fd() const;

   private:
    friend class NetworkPool;
    Lease(NetworkPool* pool, size_t index) : pool_(pool), index_(index) {}
    NetworkPool* pool_;
    size_t index_;
  };

  // An idle namespace, or a new one once slirp4netns says its network is up.
  absl::StatusOr<Lease> Acquire();

 private:
  struct Network {
    UniqueFd netns;
    UniqueFd exit_write;  // slirp4netns exits when this closes
    pid_t pid = -1;
    bool busy = false;
  };
  absl::StatusOr<std::unique_ptr<Network>> Start();
  void Release(size_t index);

  int userns_fd_;
  std::string slirp4netns_;
  std::mutex mu_;
  std::vector<std::unique_ptr<Network>> networks_;  // GUARDED_BY(mu_)
};

}  // namespace kiln::builder::sandbox

#endif  // KILN_BUILDER_SANDBOX_NETWORK_H_
