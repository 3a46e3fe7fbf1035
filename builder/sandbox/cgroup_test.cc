// Step cgroups against the real kernel (needs root): on this kind of host the v1 controllers
// (memory, pids, devices) enforce limits; the cgroup v2 device program is attached in the
// unified hierarchy that hybrid hosts also mount. The v2 limit files are checked as values.
#include "builder/sandbox/cgroup.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <functional>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "base/file_util.h"
#include "gtest/gtest.h"

namespace kiln::builder::sandbox {
namespace {

// Runs `body` in a child that first joins the step's cgroup; returns its exit status (or
// 128 + the signal that killed it).
int InCgroup(const StepCgroup& cg, const std::function<int()>& body) {
  pid_t pid = ::fork();
  if (pid == 0) {
    for (int fd : cg.procs_fds()) {
      if (::write(fd, "0", 1) != 1) ::_exit(250);
    }
    ::_exit(body());
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// A directory on a file system that honours device nodes, for nodes made by the tests.
class DeviceNodes {
 public:
  DeviceNodes() {
    auto dir = TempDir::Create("/var/tmp/kiln-cgroup-test-");
    EXPECT_TRUE(dir.ok());
    dir_.emplace(std::move(*dir));
  }
  std::string Make(const char* name, int major, int minor) {
    std::string path = dir_->path() + "/" + name;
    EXPECT_EQ(::mknod(path.c_str(), S_IFCHR | 0666, makedev(major, minor)), 0) << path;
    return path;
  }

 private:
  std::optional<TempDir> dir_;
};

// 0 if the node opened, else the errno.
int OpenErrno(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) return errno;
  ::close(fd);
  return 0;
}

std::string OwnUnifiedPath() {
  auto text = ReadFile("/proc/self/cgroup", 1 << 16);
  for (absl::string_view line : absl::StrSplit(*text, '\n')) {
    if (absl::ConsumePrefix(&line, "0::")) return std::string(line);
  }
  return "";
}

TEST(CgroupTest, DetectsThisHost) {
  ASSERT_EQ(::geteuid(), 0u);
  auto cgroups = Cgroups::Detect();
  ASSERT_TRUE(cgroups->Available()) << cgroups->Why();
  // Either layout is fine; it must name what it uses.
  EXPECT_TRUE(absl::StartsWith(cgroups->Describe(), "cgroup v")) << cgroups->Describe();
}

TEST(CgroupTest, PidsLimitStopsAForkBomb) {
  auto cgroups = Cgroups::Detect();
  ASSERT_TRUE(cgroups->Available()) << cgroups->Why();
  ResourceLimits limits;
  limits.pids_limit = 20;
  auto step = cgroups->CreateStep(limits, DefaultDeviceRules());
  ASSERT_TRUE(step.ok()) << step.status();
  // Fewer than 20 forks succeed.
  int forked = InCgroup(**step, [] {
    std::vector<pid_t> children;
    for (int i = 0; i < 100; ++i) {
      pid_t p = ::fork();
      if (p < 0) break;
      if (p == 0) {
        ::pause();
        ::_exit(0);
      }
      children.push_back(p);
    }
    for (pid_t p : children) ::kill(p, SIGKILL);
    for (pid_t p : children) ::waitpid(p, nullptr, 0);
    return static_cast<int>(children.size());
  });
  EXPECT_GT(forked, 0);
  EXPECT_LT(forked, 20);
}

TEST(CgroupTest, MemoryLimitEndsInTheOomKiller) {
  auto cgroups = Cgroups::Detect();
  ASSERT_TRUE(cgroups->Available()) << cgroups->Why();
  ResourceLimits limits;
  limits.memory_bytes = 32 << 20;
  limits.memory_swap_bytes = 32 << 20;
  auto step = cgroups->CreateStep(limits, DefaultDeviceRules());
  ASSERT_TRUE(step.ok()) << step.status();
  EXPECT_FALSE((*step)->OomKilled());
  int status = InCgroup(**step, [] {
    size_t size = 256 << 20;
    char* p = static_cast<char*>(
        ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    for (size_t i = 0; i < size; i += 4096) p[i] = 1;
    return 0;
  });
  EXPECT_EQ(status, 128 + SIGKILL);
  EXPECT_TRUE((*step)->OomKilled());
}

TEST(CgroupTest, OnlyDockersDefaultDevicesOpen) {
  auto cgroups = Cgroups::Detect();
  ASSERT_TRUE(cgroups->Available()) << cgroups->Why();
  auto step = cgroups->CreateStep({}, DefaultDeviceRules());
  ASSERT_TRUE(step.ok()) << step.status();
  DeviceNodes nodes;
  std::string null = nodes.Make("null", 1, 3);
  std::string kvm = nodes.Make("kvm", 10, 232);
  std::string mem = nodes.Make("mem", 1, 1);
  std::string pts = nodes.Make("pts9", 136, 9);
  EXPECT_EQ(InCgroup(**step, [&] { return OpenErrno(null); }), 0);
  EXPECT_EQ(InCgroup(**step, [&] { return OpenErrno(kvm); }), EPERM);
  EXPECT_EQ(InCgroup(**step, [&] { return OpenErrno(mem); }), EPERM);
  // pts/9 passes the cgroup; the kernel then answers for a terminal that does not exist.
  EXPECT_NE(InCgroup(**step, [&] { return OpenErrno(pts); }), EPERM);
  // mknod stays allowed; opening the node does not.
  EXPECT_EQ(InCgroup(**step,
                     [&] {
                       std::string path = kvm + "2";
                       if (::mknod(path.c_str(), S_IFCHR | 0600, makedev(10, 232)) != 0) {
                         return 100;
                       }
                       return OpenErrno(path);
                     }),
            EPERM);
}

TEST(CgroupTest, UnifiedDeviceProgramIsEnforced) {
  // Hybrid and pure v2 hosts both have the unified hierarchy; attach the v2 program there.
  std::string mount = ::access("/sys/fs/cgroup/unified/cgroup.procs", F_OK) == 0
                          ? "/sys/fs/cgroup/unified"
                          : "/sys/fs/cgroup";
  ASSERT_EQ(::access((mount + "/cgroup.procs").c_str(), F_OK), 0) << "no cgroup v2 mount";
  auto cgroups = Cgroups::ForUnified(mount, OwnUnifiedPath());
  ASSERT_TRUE(cgroups->Available()) << cgroups->Why();
  ResourceLimits limits;
  auto step = cgroups->CreateStep(limits, DefaultDeviceRules());
  ASSERT_TRUE(step.ok()) << step.status();
  DeviceNodes nodes;
  std::string zero = nodes.Make("zero", 1, 5);
  std::string fuse = nodes.Make("fuse", 10, 229);
  std::string loop = nodes.Make("loop", 7, 0);
  EXPECT_EQ(InCgroup(**step, [&] { return OpenErrno(zero); }), 0);
  EXPECT_EQ(InCgroup(**step, [&] { return OpenErrno(fuse); }), EPERM);
  EXPECT_EQ(InCgroup(**step, [&] { return OpenErrno(loop); }), EPERM);
  // Outside the cgroup the same node opens (or fails for another reason).
  EXPECT_NE(OpenErrno(fuse), EPERM);
}

TEST(CgroupTest, StepCgroupsAreRemovedWithTheirProcesses) {
  auto cgroups = Cgroups::Detect();
  ASSERT_TRUE(cgroups->Available()) << cgroups->Why();
  std::string dir;
  {
    auto step = cgroups->CreateStep({}, DefaultDeviceRules());
    ASSERT_TRUE(step.ok()) << step.status();
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", (*step)->procs_fds()[0]);
    char real[4096] = {};
    ASSERT_GT(::readlink(path, real, sizeof real - 1), 0);
    dir = Dirname(real);
    // A process left running in the cgroup is killed when the step ends.
    pid_t pid = ::fork();
    if (pid == 0) {
      if (::write((*step)->procs_fds()[0], "0", 1) != 1) ::_exit(1);
      ::pause();
      ::_exit(0);
    }
    for (int i = 0; i < 100; ++i) {
      auto procs = ReadFile(dir + "/cgroup.procs", 4096);
      if (procs.ok() && !procs->empty()) break;
      ::usleep(1000);
    }
    std::thread reaper([pid] {
      int status;
      ::waitpid(pid, &status, 0);
    });
    reaper.detach();
  }
  EXPECT_FALSE(PathExists(dir)) << dir;
}

TEST(CgroupTest, LimitSettingsPerHierarchy) {
  ResourceLimits limits;
  limits.memory_bytes = 512 << 20;
  limits.cpu_shares = 512;
  limits.cpus = 1.5;
  limits.pids_limit = 100;
  auto text = [](const std::vector<ControlSetting>& settings) {
    std::string out;
    for (const ControlSetting& s : settings) absl::StrAppend(&out, s.file, "=", s.value, "\n");
    return out;
  };
  EXPECT_EQ(text(LimitSettings(limits, /*unified=*/true, "")),
            "memory.max=536870912\n"
            "memory.swap.max=536870912\n"
            "pids.max=100\n"
            "cpu.weight=20\n"
            "cpu.max=150000 100000\n");
  EXPECT_EQ(text(LimitSettings(limits, /*unified=*/false, "")),
            "memory.limit_in_bytes=536870912\n"
            "memory.memsw.limit_in_bytes=1073741824\n"
            "pids.max=100\n"
            "cpu.shares=512\n"
            "cpu.cfs_period_us=100000\n"
            "cpu.cfs_quota_us=150000\n");
  EXPECT_EQ(text(LimitSettings(limits, /*unified=*/false, "cpu")),
            "cpu.shares=512\ncpu.cfs_period_us=100000\ncpu.cfs_quota_us=150000\n");
  limits.memory_swap_bytes = -1;
  limits.pids_limit = -1;
  EXPECT_EQ(text(LimitSettings(limits, /*unified=*/true, "memory")),
            "memory.max=536870912\nmemory.swap.max=max\n");
  EXPECT_EQ(text(LimitSettings(limits, /*unified=*/true, "pids")), "pids.max=max\n");
}

TEST(CgroupTest, MemorySizes) {
  EXPECT_EQ(*ParseMemorySize("512m", "--memory"), 512 << 20);
  EXPECT_EQ(*ParseMemorySize("1G", "--memory"), int64_t{1} << 30);
  EXPECT_EQ(*ParseMemorySize("1.5gb", "--memory"), int64_t{3} << 29);
  EXPECT_EQ(*ParseMemorySize("100KiB", "--memory"), 102400);
  EXPECT_EQ(*ParseMemorySize("4096", "--memory"), 4096);
  EXPECT_EQ(ParseMemorySize("lots", "--memory").status().message(),
            "--memory: \"lots\" is not a size (like 512m or 2g)");
  EXPECT_FALSE(ParseMemorySize("-1m", "--memory").ok());
  EXPECT_FALSE(ParseMemorySize("", "--memory").ok());
}

}  // namespace
}  // namespace kiln::builder::sandbox
