// The sandbox against a real kernel: needs root (tests run outside Bazel's sandbox).
#include "builder/sandbox/sandbox.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/file_util.h"
#include "gtest/gtest.h"

namespace kiln::builder::sandbox {
namespace {

class SandboxTest : public ::testing::Test {
 protected:
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

TEST_F(SandboxTest, ChangesLandInTheUpperDirectoryOnly) {
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

TEST_F(SandboxTest, CannotSeeHostProcessesOrEscapeTheRoot) {
  std::string out =
      Run("echo $$; ls /proc > /procs; grep -c '^[0-9]' /procs; "
          "echo x > /../../../../escaped; "
          "hostname");
  EXPECT_EQ(out, "1\n2\nkiln\n");  // the shell is PID 1; it and ls are all there was
  EXPECT_TRUE(PathExists(upper_ + "/escaped"));
  EXPECT_FALSE(PathExists("/escaped"));
}

TEST_F(SandboxTest, DevicesAndFilesystems) {
  std::string out =
      Run("echo hi > /dev/null && head -c 4 /dev/zero | wc -c && test -c /dev/urandom && "
          "test -d /dev/pts && test -d /dev/shm && ((echo x > /sys/x) 2>/dev/null || echo ro) && "
          "test -e /proc/self/status && echo ok");
  EXPECT_EQ(out, "4\nro\nok\n");
}

TEST_F(SandboxTest, NoLeakedDescriptorsAndLimitedCapabilities) {
  int leaked = ::open("/etc/hostname", O_RDONLY);  // deliberately not O_CLOEXEC
  std::string out =
      Run("ls /proc/self/fd | sort -n | tr '\\n' ' '; grep CapBnd /proc/self/status; "
          "grep NoNewPrivs /proc/self/status");
  ::close(leaked);
  EXPECT_EQ(out.substr(0, out.find('\n')), "0 1 2 3 CapBnd:\t00000000a80425fb");
  EXPECT_NE(out.find("NoNewPrivs:\t1"), std::string::npos) << out;
}

TEST_F(SandboxTest, UserEnvironmentWorkdirAndExitCodes) {
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

TEST_F(SandboxTest, NetworkNone) {
  SandboxSpec spec;
  spec.network_none = true;
  EXPECT_EQ(Run("ls /sys/class/net", spec), "lo\n");
}

TEST_F(SandboxTest, BindAndTmpfsMounts) {
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

TEST_F(SandboxTest, ManyLayersWithLongPaths) {
  // 200 lower directories with 120-byte paths: far more than fit in one page of options.
  SandboxSpec spec;
  const std::string deep = dir_->path() + "/" + std::string(100, 'd');
  for (int i = 0; i < 200; ++i) {
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
  std::string out_path = dir_->path() + "/many-out";
  int fd = ::open(out_path.c_str(), O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, 0644);
  spec.stdout_fd = spec.stderr_fd = fd;
  auto result = RunInSandbox(spec);
  ::close(fd);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(*ReadFile(out_path, 1 << 20), "200\n0");  // the first lower dir is the topmost

  spec.lower_dirs.assign(501, lower_);
  auto too_many = RunInSandbox(spec);
  ASSERT_FALSE(too_many.ok());
  EXPECT_NE(too_many.status().message().find("too many layers (501)"), std::string::npos);
}

TEST_F(SandboxTest, SetupErrorsAreReported) {
  SandboxSpec spec;
  spec.lower_dirs = {lower_};
  spec.upper_dir = dir_->path() + "/u";
  spec.work_dir = dir_->path() + "/w";
  spec.root_mount = dir_->path() + "/r";
  ASSERT_TRUE(MakeDirs(spec.upper_dir).ok());
  ASSERT_TRUE(MakeDirs(spec.work_dir).ok());
  spec.argv = {"no-such-command"};
  auto result = RunInSandbox(spec);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().message(), "sandbox: exec no-such-command: No such file or directory");
}

}  // namespace
}  // namespace kiln::builder::sandbox
