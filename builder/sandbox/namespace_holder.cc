#include "builder/sandbox/namespace_holder.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <iterator>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "builder/sandbox/close_fds.h"

namespace kiln::builder::sandbox {
namespace {

struct HolderArgs {
  int unshare_flags;
  int userns_fd;
  int ready_fd;    // the child writes a byte once it is in the new namespace
  int release_fd;  // and exits when this pipe closes
};

int HolderMain(void* arg) {
  const HolderArgs& a = *static_cast<HolderArgs*>(arg);
  // Only its own descriptors stay open: those inherited from other threads of kiln (their
  // pipes among them) must not be held by this process.
  const int keep[] = {a.ready_fd, a.release_fd, a.userns_fd};
  CloseAllExcept(keep, std::size(keep));
  if (a.userns_fd >= 0 && ::setns(a.userns_fd, CLONE_NEWUSER) != 0) ::_exit(1);
  if (::unshare(a.unshare_flags) != 0) ::_exit(2);
  char c = 1;
  if (::write(a.ready_fd, &c, 1) != 1) ::_exit(3);
  while (::read(a.release_fd, &c, 1) < 0 && errno == EINTR) {
  }
  ::_exit(0);
}

}  // namespace

absl::StatusOr<UniqueFd> NewNamespace(int unshare_flags, const char* ns_name, int join_userns_fd,
                                      const std::function<absl::Status(pid_t)>& configure) {
  const std::string what = absl::StrCat("create a ", ns_name, " namespace");
  int ready[2], release[2];
  if (::pipe2(ready, O_CLOEXEC) != 0 || ::pipe2(release, O_CLOEXEC) != 0) {
    return ErrnoError("pipe");
  }
  UniqueFd ready_read(ready[0]), ready_write(ready[1]);
  UniqueFd release_read(release[0]), release_write(release[1]);
  HolderArgs args{unshare_flags, join_userns_fd, ready_write.get(), release_read.get()};
  constexpr size_t kStack = 64 << 10;
  void* stack = ::mmap(nullptr, kStack, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  if (stack == MAP_FAILED) return ErrnoError("allocate a stack");
  pid_t pid = ::clone(HolderMain, static_cast<char*>(stack) + kStack, SIGCHLD, &args);
  int clone_errno = errno;
  ::munmap(stack, kStack);  // the child has its own copy of the address space
  if (pid < 0) return ErrnoError(what, clone_errno);
  ready_write.Reset();
  release_read.Reset();
  char c;
  ssize_t n;
  while ((n = ::read(ready_read.get(), &c, 1)) < 0 && errno == EINTR) {
  }
  absl::Status status = absl::OkStatus();
  UniqueFd ns;
  if (n == 1 && configure) status = configure(pid);
  if (n == 1 && status.ok()) {
    std::string path = absl::StrCat("/proc/", pid, "/ns/", ns_name);
    ns.Reset(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!ns.valid()) status = ErrnoError("open " + path);
  }
  release_write.Reset();
  int wait_status = 0;
  while (::waitpid(pid, &wait_status, 0) < 0 && errno == EINTR) {
  }
  if (n != 1) {
    return absl::InternalError(absl::StrCat(what, ": step ",
                                            WIFEXITED(wait_status) ? WEXITSTATUS(wait_status) : -1,
                                            " of its first process failed"));
  }
  RETURN_IF_ERROR_CTX(status, what);
  return ns;
}

}  // namespace kiln::builder::sandbox
