// The sandbox against a real kernel: needs root (tests run outside Bazel's sandbox).
#include "builder/sandbox/sandbox.h"

#include <fcntl.h>
#include <linux/capability.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "base/file_util.h"
#include "builder/sandbox/cgroup.h"
#include "builder/sandbox/network.h"
#include "builder/sandbox/seccomp_filter.h"
#include "builder/sandbox/step_userns.h"
#include "gtest/gtest.h"

namespace kiln::builder::sandbox {
namespace {

// Every case runs twice: with the host's ids (--userns=host, and rootless kiln) and in the
// steps' user namespace with idmapped layers (kiln started as root).
class SandboxTest : public ::testing::TestWithParam<bool> {
 protected:
  static const StepUserNamespace* Userns() {
    static auto* ns = new absl::StatusOr<std::unique_ptr<StepUserNamespace>>(
        StepUserNamespace::Create({kDefaultStepIdBase, kDefaultStepIdBase, kStepIdCount}));
    EXPECT_TRUE(ns->ok()) << ns->status();
    return ns->ok() ? ns->value().get() : nullptr;
  }

  void SetUp() override {
    ASSERT_EQ(::geteuid(), 0u) << "the sandbox tests need root";
    auto dir = TempDir::Create("/var/tmp/kiln-sandbox-");
    ASSERT_TRUE(dir.ok());
    dir_.emplace(std::move(*dir));
    lower_ = dir_->path() + "/lower";
    ASSERT_TRUE(MakeDirs(lower_ + "/bin").ok());
    ASSERT_TRUE(MakeDirs(lower_ + "/etc").ok());
    ASSERT_TRUE(WriteFileAtomic(lower_ + "/etc/passwd", "root:x:0:0::/root:/bin/sh\n").ok());
    auto busybox = ReadFile("/bin/busybox", 64 << 20);
    ASSERT_TRUE(busybox.ok()) << "busybox-static is needed";
    ASSERT_TRUE(WriteFileAtomic(lower_ + "/bin/busybox", *busybox, 0755).ok());
    ASSERT_EQ(::symlink("busybox", (lower_ + "/bin/sh").c_str()), 0);
    ASSERT_TRUE(MakeDirs(dir_->path() + "/outside").ok());
  }

  // Runs `script` with /bin/sh -c; returns its output.
  std::string Run(const std::string& script, SandboxSpec spec = {}, int* exit_code = nullptr) {
    static int n = 0;
    std::string id = std::to_string(n++);
    spec.lower_dirs = {lower_};
    spec.upper_dir = dir_->path() + "/upper" + id;
    spec.work_dir = dir_->path() + "/work" + id;
    spec.root_mount = dir_->path() + "/root" + id;
    EXPECT_TRUE(MakeDirs(spec.upper_dir).ok());
    EXPECT_TRUE(MakeDirs(spec.work_dir).ok());
    upper_ = spec.upper_dir;
    spec.argv = {"/bin/sh", "-c", script};
    if (spec.env.empty()) spec.env = {"PATH=/bin"};
    if (GetParam()) spec.userns = Userns();
    std::string out_path = dir_->path() + "/out" + id;
    int fd = ::open(out_path.c_str(), O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, 0644);
    spec.stdout_fd = spec.stderr_fd = fd;
    auto result = RunInSandbox(spec);
    ::close(fd);
    EXPECT_TRUE(result.ok()) << result.status();
    if (exit_code != nullptr)
      *exit_code = result.ok() ? result->exit_code : -1;
    else if (result.ok())
      EXPECT_EQ(result->exit_code, 0) << *ReadFile(out_path, 1 << 20);
    return *ReadFile(out_path, 1 << 20);
  }

  std::optional<TempDir> dir_;
  std::string lower_;
  std::string upper_;
};

TEST_P(SandboxTest, ChangesLandInTheUpperDirectoryOnly) {
  Run("echo made > /new && rm /etc/passwd && mkdir -p /a/b");
  EXPECT_EQ(*ReadFile(upper_ + "/new", 100), "made\n");
  struct stat st;
  ASSERT_EQ(::lstat((upper_ + "/etc/passwd").c_str(), &st), 0);
  EXPECT_TRUE(S_ISCHR(st.st_mode));  // an overlay whiteout
  EXPECT_TRUE(PathExists(lower_ + "/etc/passwd"));
  EXPECT_TRUE(PathExists(upper_ + "/a/b"));
  // The sandbox's own mount points are not changes.
  EXPECT_FALSE(PathExists(upper_ + "/proc"));
  EXPECT_FALSE(PathExists(upper_ + "/dev"));
  EXPECT_FALSE(PathExists(upper_ + "/sys"));
  EXPECT_FALSE(PathExists(upper_ + "/etc/hosts"));
}

TEST_P(SandboxTest, CannotSeeHostProcessesOrEscapeTheRoot) {
  std::string out =
      Run("echo $$; ls /proc > /procs; grep -c '^[0-9]' /procs; "
          "echo x > /../../../../escaped; "
          "hostname");
  EXPECT_EQ(out, "1\n2\nkiln\n");  // the shell is PID 1; it and ls are all there was
  EXPECT_TRUE(PathExists(upper_ + "/escaped"));
  EXPECT_FALSE(PathExists("/escaped"));
}

TEST_P(SandboxTest, DevicesAndFilesystems) {
  std::string out =
      Run("echo hi > /dev/null && head -c 4 /dev/zero | wc -c && test -c /dev/urandom && "
          "test -d /dev/pts && test -d /dev/shm && ((echo x > /sys/x) 2>/dev/null || echo ro) && "
          "test -e /proc/self/status && echo ok");
  EXPECT_EQ(out, "4\nro\nok\n");
}

TEST_P(SandboxTest, NoLeakedDescriptorsAndLimitedCapabilities) {
  int leaked = ::open("/etc/hostname", O_RDONLY);  // deliberately not O_CLOEXEC
  std::string out =
      Run("ls /proc/self/fd | sort -n | tr '\\n' ' '; grep CapBnd /proc/self/status; "
          "grep NoNewPrivs /proc/self/status");
  ::close(leaked);
  EXPECT_EQ(out.substr(0, out.find('\n')), "0 1 2 3 CapBnd:\t00000000a80425fb");
  EXPECT_NE(out.find("NoNewPrivs:\t1"), std::string::npos) << out;
}

TEST_P(SandboxTest, UserEnvironmentWorkdirAndExitCodes) {
  SandboxSpec spec;
  spec.uid = 1000;
  spec.gid = 1000;
  spec.cwd = "/work/dir";
  spec.env = {"PATH=/bin", "GREETING=hello"};
  EXPECT_EQ(Run("id -u; id -g; pwd; echo $GREETING", spec), "1000\n1000\n/work/dir\nhello\n");
  int code = 0;
  Run("exit 7", {}, &code);
  EXPECT_EQ(code, 7);
  Run("sh -c 'kill -9 $$'; exit $?", {}, &code);
  EXPECT_EQ(code, 137);
}

TEST_P(SandboxTest, NetworkNone) {
  SandboxSpec spec;
  spec.network = SandboxSpec::Network::kNone;
  EXPECT_EQ(Run("ls /sys/class/net", spec), "lo\n");
}

TEST_P(SandboxTest, BindAndTmpfsMounts) {
  std::string shared = dir_->path() + "/shared";
  ASSERT_TRUE(MakeDirs(shared).ok());
  ASSERT_TRUE(WriteFileAtomic(shared + "/in", "from the host\n").ok());
  std::string cache = dir_->path() + "/cache";
  ASSERT_TRUE(MakeDirs(cache).ok());
  SandboxSpec spec;
  spec.mounts = {{SandboxMount::Type::kBind, shared, "/mnt/ro", true},
                 {SandboxMount::Type::kBind, cache, "/var/cache/x", false},
                 {SandboxMount::Type::kBind, shared + "/in", "/etc/in-file", true},
                 {SandboxMount::Type::kTmpfs, "", "/scratch", false}};
  std::string out =
      Run("cat /mnt/ro/in /etc/in-file; (echo x > /mnt/ro/new) 2>/dev/null || echo ro; "
          "echo kept > /var/cache/x/kept; echo gone > /scratch/gone; echo made > /made",
          spec);
  EXPECT_EQ(out, "from the host\nfrom the host\nro\n");
  EXPECT_EQ(*ReadFile(cache + "/kept", 100), "kept\n");  // written through to the host
  EXPECT_FALSE(PathExists(shared + "/new"));
  EXPECT_FALSE(PathExists(upper_ + "/var/cache/x/kept"));  // not a change of the step
  EXPECT_FALSE(PathExists(upper_ + "/scratch/gone"));
  EXPECT_TRUE(PathExists(upper_ + "/made"));
}

// A kFile (a secret) is its bytes, with its mode and owner, read-only and not executable;
// nothing of it is on the host's disk or left in the step's changes but the empty mount point.
TEST_P(SandboxTest, FileMountsAreReadOnlyWithTheirModeAndOwner) {
  SandboxSpec spec;
  SandboxMount secret;
  secret.type = SandboxMount::Type::kFile;
  secret.target = "/run/secrets/tok";
  secret.data = "s3cr3t-bytes";
  secret.mode = 0440;
  secret.uid = 1000;
  secret.gid = 1001;
  SandboxMount other = secret;
  other.target = "/etc/other";
  other.data = "#!/bin/sh\necho ran\n";
  other.mode = 0755;
  other.uid = other.gid = 0;
  spec.mounts = {secret, other};
  std::string out = Run(
      "cat /run/secrets/tok; echo; stat -c '%a %u:%g' /run/secrets/tok; "
      "(echo x > /run/secrets/tok) 2>/dev/null || echo ro; /etc/other 2>/dev/null || echo noexec; "
      "grep -c ' /run/secrets/tok ' /proc/self/mounts",
      spec);
  EXPECT_EQ(out, "s3cr3t-bytes\n440 1000:1001\nro\nnoexec\n1\n");
  std::string files = Dirname(upper_) + "/files";
  EXPECT_EQ(ReadFile("/proc/self/mounts", 1 << 20)->find(files), std::string::npos);
  EXPECT_TRUE(!PathExists(files) || ListDir(files)->empty());  // only the mount point, empty
  auto stub = ReadFile(upper_ + "/run/secrets/tok", 100);
  EXPECT_TRUE(stub.ok() && stub->empty());  // the empty mount point kiln removes after
}

TEST_P(SandboxTest, ManyLayersWithLongPaths) {
  // 500 lower directories (overlayfs's limit) with 120-byte paths: far more than fit in one
  // page of options.
  SandboxSpec spec;
  const std::string deep = dir_->path() + "/" + std::string(100, 'd');
  for (int i = 0; i < 499; ++i) {
    std::string layer = deep + "/layer-" + std::to_string(i);
    ASSERT_TRUE(MakeDirs(layer + "/layers").ok());
    ASSERT_TRUE(WriteFileAtomic(layer + "/layers/" + std::to_string(i), "").ok());
    ASSERT_TRUE(WriteFileAtomic(layer + "/top", std::to_string(i)).ok());
    spec.lower_dirs.push_back(layer);
  }
  spec.lower_dirs.push_back(lower_);  // busybox at the bottom
  spec.upper_dir = dir_->path() + "/many-u";
  spec.work_dir = dir_->path() + "/many-w";
  spec.root_mount = dir_->path() + "/many-r";
  ASSERT_TRUE(MakeDirs(spec.upper_dir).ok());
  ASSERT_TRUE(MakeDirs(spec.work_dir).ok());
  spec.argv = {"/bin/sh", "-c", "ls /layers | wc -l; cat /top"};
  spec.env = {"PATH=/bin"};
  if (GetParam()) spec.userns = Userns();
  std::string out_path = dir_->path() + "/many-out";
  int fd = ::open(out_path.c_str(), O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, 0644);
  spec.stdout_fd = spec.stderr_fd = fd;
  auto result = RunInSandbox(spec);
  ::close(fd);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(*ReadFile(out_path, 1 << 20), "499\n0");  // the first lower dir is the topmost

  ASSERT_TRUE(MakeDirs(deep + "/x1").ok());
  spec.lower_dirs.push_back(deep + "/x1");  // 501 distinct layers
  auto too_many = RunInSandbox(spec);
  ASSERT_FALSE(too_many.ok());
  EXPECT_NE(too_many.status().message().find("too many layers (501)"), std::string::npos);
}

TEST_P(SandboxTest, SetupErrorsAreReported) {
  SandboxSpec spec;
  spec.lower_dirs = {lower_};
  spec.upper_dir = dir_->path() + "/u";
  spec.work_dir = dir_->path() + "/w";
  spec.root_mount = dir_->path() + "/r";
  ASSERT_TRUE(MakeDirs(spec.upper_dir).ok());
  ASSERT_TRUE(MakeDirs(spec.work_dir).ok());
  spec.argv = {"no-such-command"};
  if (GetParam()) spec.userns = Userns();
  auto result = RunInSandbox(spec);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().message(), "sandbox: exec no-such-command: No such file or directory");
}

TEST_P(SandboxTest, RuncsMaskedAndReadOnlyPaths) {
  // The write puts back what core_pattern holds, so the host is unchanged even if it landed.
  auto pattern = ReadFile("/proc/sys/kernel/core_pattern", 4096);
  ASSERT_TRUE(pattern.ok());
  std::string script =
      "cat /proc/keys /proc/timer_list | wc -c; ls /sys/firmware | wc -l; "
      "(cat /proc/kcore || true) 2>/dev/null | wc -c; "
      "(printf '%s' \"$PATTERN\" > /proc/sys/kernel/core_pattern) 2>/dev/null || echo sys-ro; "
      "(echo h > /proc/sysrq-trigger) 2>/dev/null || echo sysrq-ro; "
      "(echo 1 > /sys/kernel/uevent_helper) 2>/dev/null || echo sysfs-ro; "
      "umount /proc/kcore 2>/dev/null || echo mask-stays";
  SandboxSpec spec;
  spec.env = {"PATH=/bin", "PATTERN=" + std::string(absl::StripTrailingAsciiWhitespace(*pattern))};
  EXPECT_EQ(Run(script, spec), "0\n0\n0\nsys-ro\nsysrq-ro\nsysfs-ro\nmask-stays\n");
  EXPECT_EQ(*ReadFile("/proc/sys/kernel/core_pattern", 4096), *pattern);
}

TEST_P(SandboxTest, EveryMountButDevIsNodev) {
  // Fields 5 and 6 of mountinfo: the mount point and its options.
  std::string out =
      Run("while read id parent dev root point opts rest; do case $point in /dev|/dev/*) ;; "
          "*) case ,$opts, in *,nodev,*) ;; *) echo \"$point $opts\";; esac;; esac; "
          "done < /proc/self/mountinfo; echo end");
  EXPECT_EQ(out, "end\n");
}

TEST_P(SandboxTest, NoInheritableOrAmbientCapabilitiesAndASeccompFilter) {
  auto filter = SeccompFilter::Compile(DefaultSeccompProfile(), CapabilitySet::Default());
  ASSERT_TRUE(filter.ok()) << filter.status();
  SandboxSpec spec;
  spec.seccomp = &*filter;
  EXPECT_EQ(Run("grep -E '^(CapInh|CapAmb|Seccomp|NoNewPrivs):' /proc/self/status", spec),
            "CapInh:\t0000000000000000\nCapAmb:\t0000000000000000\nNoNewPrivs:\t1\nSeccomp:\t2\n");
  // Without one, nothing is filtered.
  EXPECT_EQ(Run("grep -E '^Seccomp:' /proc/self/status"), "Seccomp:\t0\n");
  // Dropping a capability takes it from the bounding set too.
  spec.capabilities.Remove(CAP_CHOWN);
  spec.seccomp = nullptr;
  EXPECT_EQ(Run("touch /f; chown 5 /f 2>/dev/null || echo refused", spec), "refused\n");
}

TEST_P(SandboxTest, RootInTheStepIsNotRootOnTheHost) {
  ASSERT_EQ(::chown((lower_ + "/etc/passwd").c_str(), 1000, 1000), 0);
  std::string out =
      Run("cat /proc/self/uid_map | tr -s ' ' | sed 's/^ //'; stat -c %u:%g /etc/passwd; "
          "echo new > /new; mkdir /d; chown 33:33 /d; rm /bin/sh.missing 2>/dev/null; "
          "rm /etc/passwd; id -u");
  if (GetParam()) {
    EXPECT_EQ(out, "0 1879048192 65536\n1000:1000\n0\n");
  } else {
    EXPECT_EQ(out.substr(out.find('\n') + 1), "1000:1000\n0\n");
  }
  // On disk the step's files have the image's ids, whatever the namespace.
  struct stat st;
  ASSERT_EQ(::lstat((upper_ + "/new").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 0u);
  ASSERT_EQ(::lstat((upper_ + "/d").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 33u);
  EXPECT_EQ(st.st_gid, 33u);
  ASSERT_EQ(::lstat((upper_ + "/etc/passwd").c_str(), &st), 0);  // the whiteout
  EXPECT_TRUE(S_ISCHR(st.st_mode));
  EXPECT_EQ(st.st_uid, 0u);
  ASSERT_EQ(::lstat((upper_ + "/etc").c_str(), &st), 0);  // copied up with the lower's owner
  EXPECT_EQ(st.st_uid, 0u);
}

TEST_P(SandboxTest, OpaqueDirectoriesKeepTheTrustedXattr) {
  ASSERT_TRUE(MakeDirs(lower_ + "/srv/old").ok());
  Run("rm -rf /srv && mkdir /srv && echo x > /srv/new");
  char value[8] = {};
  ASSERT_EQ(::getxattr((upper_ + "/srv").c_str(), "trusted.overlay.opaque", value, sizeof value),
            1);
  EXPECT_EQ(value[0], 'y');
}

TEST_P(SandboxTest, StepCgroupLimitsAndNamespace) {
  auto cgroups = Cgroups::Detect();
  ASSERT_TRUE(cgroups->Available()) << cgroups->Why();
  ResourceLimits limits;
  limits.pids_limit = 20;
  auto cgroup = cgroups->CreateStep(limits, DefaultDeviceRules());
  ASSERT_TRUE(cgroup.ok()) << cgroup.status();
  SandboxSpec spec;
  spec.cgroup = cgroup->get();
  std::string out =
      Run("cut -d: -f3 /proc/self/cgroup | sort -u; "
          "(for i in $(seq 40); do sleep 5 & echo >> /started; done) 2>/dev/null; "
          "kill -9 -1; wait; wc -l < /started; "
          "mknod /dev/kvm c 10 232 2>/dev/null; (cat /dev/kvm) 2>/dev/null || echo kvm-refused",
          spec);
  std::vector<std::string> lines = absl::StrSplit(out, '\n');
  ASSERT_GE(lines.size(), 3u) << out;
  EXPECT_EQ(lines[0], "/");  // its own cgroup is its root
  int processes = 0;
  ASSERT_TRUE(absl::SimpleAtoi(absl::StripAsciiWhitespace(lines[1]), &processes)) << out;
  EXPECT_LE(processes, 20);  // 40 were asked for
  EXPECT_GT(processes, 5);
  EXPECT_EQ(lines[2], "kvm-refused");
}

TEST_P(SandboxTest, PrivateNetworkRlimitsAndShmSize) {
  NetworkPool pool(GetParam() ? Userns()->fd() : -1);
  auto lease = pool.Acquire();
  ASSERT_TRUE(lease.ok()) << lease.status();
  SandboxSpec spec;
  spec.network = SandboxSpec::Network::kPrivate;
  spec.netns_fd = lease->netns_fd();
  spec.rlimits = {{RLIMIT_NOFILE, 100, 200}};
  spec.shm_size = 1 << 20;
  EXPECT_EQ(Run("ls /sys/class/net; ulimit -n; ulimit -Hn; grep ' /dev/shm ' /proc/mounts | "
                "grep -o 'size=[0-9a-z]*'",
                spec),
            "eth0\nlo\n100\n200\nsize=1024k\n");
}

TEST_P(SandboxTest, ALayerTwiceInTheStackIsMountedOnce) {
  // Equal layers share one snapshot: the same directory twice in the lower list.
  std::string other = dir_->path() + "/other";
  ASSERT_TRUE(MakeDirs(other + "/etc").ok());
  ASSERT_TRUE(WriteFileAtomic(other + "/etc/passwd", "other\n").ok());
  SandboxSpec spec;
  spec.lower_dirs = {lower_, other, lower_};
  spec.upper_dir = dir_->path() + "/twice-u";
  spec.work_dir = dir_->path() + "/twice-w";
  spec.root_mount = dir_->path() + "/twice-r";
  ASSERT_TRUE(MakeDirs(spec.upper_dir).ok());
  ASSERT_TRUE(MakeDirs(spec.work_dir).ok());
  spec.argv = {"/bin/sh", "-c", "head -c4 /etc/passwd"};
  spec.env = {"PATH=/bin"};
  if (GetParam()) spec.userns = Userns();
  std::string out_path = dir_->path() + "/twice-out";
  int fd = ::open(out_path.c_str(), O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, 0644);
  spec.stdout_fd = spec.stderr_fd = fd;
  auto result = RunInSandbox(spec);
  ::close(fd);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(*ReadFile(out_path, 1 << 20), "root");  // the topmost occurrence wins
}

TEST_P(SandboxTest, MountPointsMustBeDirectories) {
  // runc's case: an image whose /proc is a symlink must not have proc mounted through it.
  ASSERT_EQ(::symlink("/symlink", (lower_ + "/proc").c_str()), 0);
  SandboxSpec spec;
  spec.lower_dirs = {lower_};
  spec.upper_dir = dir_->path() + "/sym-u";
  spec.work_dir = dir_->path() + "/sym-w";
  spec.root_mount = dir_->path() + "/sym-r";
  ASSERT_TRUE(MakeDirs(spec.upper_dir).ok());
  ASSERT_TRUE(MakeDirs(spec.work_dir).ok());
  spec.argv = {"/bin/sh", "-c", "true"};
  if (GetParam()) spec.userns = Userns();
  auto result = RunInSandbox(spec);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().message(),
            "sandbox: the image's /proc must be a directory: Not a directory");
  ::unlink((lower_ + "/proc").c_str());
}

INSTANTIATE_TEST_SUITE_P(Ids, SandboxTest, ::testing::Values(false, true),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return info.param ? "StepUserNamespace" : "HostIds";
                         });

}  // namespace
}  // namespace kiln::builder::sandbox
