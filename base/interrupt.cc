#include "base/interrupt.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <set>
#include <thread>

#include "base/file_util.h"

namespace kiln::interrupt {
namespace {

struct Registry {
  std::mutex mu;
  std::multiset<std::string> paths;
  std::multiset<pid_t> pids;
};

Registry& TheRegistry() {
  static Registry* r = new Registry();
  return *r;
}

int g_write_fd = -1;
std::atomic<bool> g_interrupted{false};  // lock-free: set from the handler

void OnSignal(int sig) {
  g_interrupted.store(true);
  const unsigned char byte = static_cast<unsigned char>(sig);
  (void)!::write(g_write_fd, &byte, 1);
}

[[noreturn]] void CleanUpAndDie(int sig) {
  Registry& r = TheRegistry();
  std::set<pid_t> pids;
  {
    std::lock_guard<std::mutex> lock(r.mu);
    pids.insert(r.pids.begin(), r.pids.end());
  }
  for (pid_t pid : pids) ::kill(pid, SIGKILL);
  // The threads that wait for them reap them and take them off the list.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  while (std::chrono::steady_clock::now() < deadline) {
    {
      std::lock_guard<std::mutex> lock(r.mu);
      if (r.pids.empty()) break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  std::set<std::string> paths;
  {
    std::lock_guard<std::mutex> lock(r.mu);
    paths.insert(r.paths.begin(), r.paths.end());
  }
  // A killed sandbox's mounts go a moment after it is reaped: until then parts of its
  // directory may be busy.
  for (const std::string& path : paths) {
    for (int attempt = 0; attempt < 250; ++attempt) {
      if (RemoveAll(path).ok() && !PathExists(path)) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    // What could not go keeps its owner file: the next TempDir sees a dead owner and sweeps it.
    if (!PathExists(path)) ::unlink((path + ".owner").c_str());
  }
  std::fprintf(stderr, "kiln: interrupted (%s)\n", ::strsignal(sig));
  std::fflush(stderr);
  ::signal(sig, SIG_DFL);
  ::raise(sig);
  _exit(128 + sig);
}

}  // namespace

void Install() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return;  // the signals keep their default
  g_write_fd = fds[1];
  const int read_fd = fds[0];
  std::thread([read_fd] {
    unsigned char sig = 0;
    while (true) {
      ssize_t n = ::read(read_fd, &sig, 1);
      if (n == 1) CleanUpAndDie(sig);
      if (n == 0) return;
    }
  }).detach();
  struct sigaction sa = {};
  sa.sa_handler = OnSignal;
  sa.sa_flags = SA_RESTART;
  ::sigemptyset(&sa.sa_mask);
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) ::sigaction(sig, &sa, nullptr);
}

void WaitIfInterrupted() {
  if (!g_interrupted.load()) return;
  // The cleanup thread ends the process; a failure the interrupt caused is not reported.
  while (true) std::this_thread::sleep_for(std::chrono::seconds(1));
}

void AddPath(const std::string& path) {
  Registry& r = TheRegistry();
  std::lock_guard<std::mutex> lock(r.mu);
  r.paths.insert(path);
}

void RemovePath(const std::string& path) {
  Registry& r = TheRegistry();
  std::lock_guard<std::mutex> lock(r.mu);
  if (auto it = r.paths.find(path); it != r.paths.end()) r.paths.erase(it);
}

void AddProcess(pid_t pid) {
  Registry& r = TheRegistry();
  std::lock_guard<std::mutex> lock(r.mu);
  r.pids.insert(pid);
}

void RemoveProcess(pid_t pid) {
  Registry& r = TheRegistry();
  std::lock_guard<std::mutex> lock(r.mu);
  if (auto it = r.pids.find(pid); it != r.pids.end()) r.pids.erase(it);
}

}  // namespace kiln::interrupt
