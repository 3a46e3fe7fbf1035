// What each wall of the RUN sandbox costs: runs a command (default `true`; any busybox
// command line, e.g. "--install -s /bin" for a step that makes 400 files) in the sandbox N
// times (default 100) with the walls added one at a time, from bare namespaces to everything
// a default `kiln build` step gets, and prints the mean time per step. Needs root and
// busybox-static. Usage: sandbox_walls [N] [BUSYBOX ARGS...]
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include "base/file_util.h"
#include "builder/sandbox/cgroup.h"
#include "builder/sandbox/network.h"
#include "builder/sandbox/sandbox.h"
#include "builder/sandbox/seccomp_filter.h"
#include "builder/sandbox/step_userns.h"

using namespace kiln;
using namespace kiln::builder::sandbox;

// Long by design: the benchmark's steps in order, measured and printed beside each other.
int main(int argc, char** argv) {
  int n = argc > 1 ? std::atoi(argv[1]) : 100;
  const char* layers_env = std::getenv("LAYERS");
  int layers = layers_env ? std::atoi(layers_env) : 1;
  // A process the size of a building kiln (FAT_MB of touched heap), for what fork costs it.
  const char* fat_env = std::getenv("FAT_MB");
  std::vector<char> fat(fat_env ? size_t(std::atoi(fat_env)) << 20 : 0, 1);
  std::vector<std::string> command = {"/bin/busybox"};
  for (int i = 2; i < argc; ++i) command.push_back(argv[i]);
  if (command.size() == 1) command.push_back("true");
  auto dir = TempDir::Create("/var/tmp/kiln-bench-sandbox-");
  if (!dir.ok()) return 1;
  std::string lower = dir->path() + "/lower";
  (void)MakeDirs(lower + "/bin");
  (void)WriteFileAtomic(lower + "/bin/busybox", *ReadFile("/bin/busybox", 64 << 20), 0755);
  auto userns = StepUserNamespace::Create({kDefaultStepIdBase, kDefaultStepIdBase, kStepIdCount});
  auto filter = SeccompFilter::Compile(DefaultSeccompProfile(), CapabilitySet::Default());
  auto cgroups = Cgroups::Detect();
  if (!userns.ok() || !filter.ok()) {
    std::fprintf(stderr, "setup failed\n");
    return 1;
  }
  NetworkPool pool((*userns)->fd());
  auto lease = pool.Acquire();
  if (!lease.ok()) {
    std::fprintf(stderr, "%s\n", std::string(lease.status().message()).c_str());
    return 1;
  }
  int devnull = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
  int run = 0;
  auto measure = [&](const char* name, const std::function<void(SandboxSpec&)>& configure) {
    double total = 0;
    for (int i = 0; i < n; ++i) {
      SandboxSpec spec;
      std::string step = dir->path() + "/step-" + std::to_string(run++);
      for (int l = 1; l < layers; ++l) {
        std::string extra = dir->path() + "/layer-" + std::to_string(l);
        (void)MakeDirs(extra + "/l" + std::to_string(l));
        spec.lower_dirs.push_back(extra);
      }
      spec.lower_dirs.push_back(lower);
      spec.upper_dir = step + "/upper";
      spec.work_dir = step + "/work";
      spec.root_mount = step + "/root";
      (void)MakeDirs(spec.upper_dir);
      (void)MakeDirs(spec.work_dir);
      spec.argv = command;
      spec.stdout_fd = spec.stderr_fd = devnull;
      spec.mask_paths = false;
      std::unique_ptr<StepCgroup> cgroup;
      auto start = std::chrono::steady_clock::now();
      configure(spec);
      if (spec.cgroup == reinterpret_cast<StepCgroup*>(1)) {
        cgroup = *cgroups->CreateStep({}, DefaultDeviceRules());
        spec.cgroup = cgroup.get();
      }
      auto result = RunInSandbox(spec);
      cgroup.reset();
      total += std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
                   .count();
      if (!result.ok() || result->exit_code != 0) {
        std::fprintf(stderr, "%s: failed\n", name);
        return;
      }
      (void)RemoveAll(step);
    }
    std::printf("%-58s %7.2f ms\n", name, total / n);
  };
  std::string shown;
  for (size_t i = 1; i < command.size(); ++i) shown += (i > 1 ? " " : "") + command[i];
  std::printf("busybox %s, %d runs each; mean time per step, from clone to exit\n", shown.c_str(),
              n);
  measure("namespaces, overlay, /proc /dev /sys (network none)", [](SandboxSpec&) {});
  measure("+ masked and read-only paths", [](SandboxSpec& s) { s.mask_paths = true; });
  measure("+ seccomp filter", [&](SandboxSpec& s) {
    s.mask_paths = true;
    s.seccomp = &*filter;
  });
  measure("+ user namespace, idmapped layers", [&](SandboxSpec& s) {
    s.mask_paths = true;
    s.seccomp = &*filter;
    s.userns = userns->get();
  });
  measure("+ private network (a lent namespace)", [&](SandboxSpec& s) {
    s.mask_paths = true;
    s.seccomp = &*filter;
    s.userns = userns->get();
    s.network = SandboxSpec::Network::kPrivate;
    s.netns_fd = lease->netns_fd();
  });
  if (cgroups->Available()) {
    measure(("+ step cgroup: " + cgroups->Describe()).c_str(), [&](SandboxSpec& s) {
      s.mask_paths = true;
      s.seccomp = &*filter;
      s.userns = userns->get();
      s.network = SandboxSpec::Network::kPrivate;
      s.netns_fd = lease->netns_fd();
      s.cgroup = reinterpret_cast<StepCgroup*>(1);  // made inside the timed part
    });
  }
  return 0;
}
