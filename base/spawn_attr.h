// Attributes for posix_spawn that undo what kiln itself changes about signals: kiln ignores
// SIGPIPE (a helper or step that exits early must not kill the build; its pipe's writer gets
// EPIPE instead), and every program it starts gets the default action back, as from a shell.
#ifndef KILN_BASE_SPAWN_ATTR_H_
#define KILN_BASE_SPAWN_ATTR_H_

#include <signal.h>
#include <spawn.h>

namespace kiln {

class SpawnAttr {
 public:
  SpawnAttr() {
    posix_spawnattr_init(&attr_);
    sigset_t defaults;
    sigemptyset(&defaults);
    sigaddset(&defaults, SIGPIPE);
    posix_spawnattr_setsigdefault(&attr_, &defaults);
    posix_spawnattr_setflags(&attr_, POSIX_SPAWN_SETSIGDEF);
  }
  ~SpawnAttr() { posix_spawnattr_destroy(&attr_); }
  SpawnAttr(const SpawnAttr&) = delete;
  SpawnAttr& operator=(const SpawnAttr&) = delete;

  const posix_spawnattr_t* get() const { return &attr_; }

 private:
  posix_spawnattr_t attr_;
};

}  // namespace kiln

#endif  // KILN_BASE_SPAWN_ATTR_H_
