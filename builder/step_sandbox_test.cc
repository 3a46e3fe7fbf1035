#include "builder/step_sandbox.h"

#include <linux/capability.h>
#include <sys/resource.h>
#include <unistd.h>

#include "base/file_util.h"
#include "gtest/gtest.h"

namespace kiln::builder {
namespace {

using Flags = std::map<std::string, std::vector<std::string>>;

class StepSandboxesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = TempDir::Create("/var/tmp/kiln-step-sandbox-");
    ASSERT_TRUE(dir.ok());
    dir_.emplace(std::move(*dir));
  }
  absl::StatusOr<std::unique_ptr<StepSandboxes>> Make(const SandboxOptions& options) {
    return StepSandboxes::Create(options, dir_->path());
  }
  std::optional<TempDir> dir_;
};

TEST(ParseUlimitTest, DockersForms) {
  auto r = ParseUlimit("nofile=1024:2048");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->resource, RLIMIT_NOFILE);
  EXPECT_EQ(r->soft, 1024u);
  EXPECT_EQ(r->hard, 2048u);
  r = ParseUlimit("core=unlimited");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->soft, RLIM_INFINITY);
  EXPECT_EQ(r->hard, RLIM_INFINITY);
  r = ParseUlimit("nproc=512");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->soft, 512u);
  EXPECT_EQ(r->hard, 512u);
  EXPECT_EQ(ParseUlimit("files=1").status().message(),
            "--ulimit files=1: unknown limit (core, cpu, data, fsize, locks, memlock, msgqueue, "
            "nice, nofile, nproc, rss, rtprio, rttime, sigpending, stack)");
  EXPECT_EQ(ParseUlimit("nofile=x").status().message(), "--ulimit nofile=x: want NAME=SOFT[:HARD]");
  EXPECT_EQ(ParseUlimit("nofile=10:5").status().message(),
            "--ulimit nofile=10:5: the soft limit is above the hard one");
}

TEST(ParseAddHostTest, DockersForms) {
  EXPECT_EQ(*ParseAddHost("db.internal:10.1.2.3", ""), "10.1.2.3\tdb.internal");
  EXPECT_EQ(*ParseAddHost("v6:::1", ""), "::1\tv6");
  EXPECT_EQ(*ParseAddHost("v6=[2001:db8::5]", ""), "2001:db8::5\tv6");
  EXPECT_EQ(*ParseAddHost("host.docker.internal:host-gateway", "192.0.2.2"),
            "192.0.2.2\thost.docker.internal");
  EXPECT_EQ(ParseAddHost("x:host-gateway", "").status().message(),
            "--add-host x:host-gateway: this host has no default route for host-gateway to name");
  EXPECT_EQ(ParseAddHost("db:not-an-ip", "").status().message(),
            "--add-host db:not-an-ip: \"not-an-ip\" is not an IP address");
  EXPECT_EQ(ParseAddHost("noip", "").status().message(), "--add-host noip: want NAME:IP");
  EXPECT_FALSE(ParseAddHost("bad name:1.2.3.4", "").ok());
}

TEST_F(StepSandboxesTest, TheDockerfileNeedsEntitlementsToLowerWalls) {
  auto s = Make({});
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(*(*s)->NetworkFor({}), StepNetwork::kDefault);
  EXPECT_EQ(*(*s)->NetworkFor(Flags{{"network", {"none"}}}), StepNetwork::kNone);
  EXPECT_EQ(*(*s)->NetworkFor(Flags{{"network", {"default"}}}), StepNetwork::kDefault);
  EXPECT_EQ(
      (*s)->NetworkFor(Flags{{"network", {"host"}}}).status().message(),
      "--network=host: entitlement network.host is not allowed (build with --allow network.host)");
  EXPECT_EQ((*s)->NetworkFor(Flags{{"network", {"bridge"}}}).status().message(),
            "invalid network mode \"bridge\" (want default, none or host)");
  EXPECT_FALSE(*(*s)->InsecureFor({}));
  EXPECT_FALSE(*(*s)->InsecureFor(Flags{{"security", {"sandbox"}}}));
  EXPECT_EQ((*s)->InsecureFor(Flags{{"security", {"insecure"}}}).status().message(),
            "--security=insecure: entitlement security.insecure is not allowed (build with --allow "
            "security.insecure)");

  SandboxOptions allowed;
  allowed.allow = {"network.host", "security.insecure"};
  auto a = Make(allowed);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(*(*a)->NetworkFor(Flags{{"network", {"host"}}}), StepNetwork::kHost);
  EXPECT_TRUE(*(*a)->InsecureFor(Flags{{"security", {"insecure"}}}));

  // The command line's own --network host is the user's explicit ask.
  SandboxOptions host;
  host.network = StepNetwork::kHost;
  auto h = Make(host);
  ASSERT_TRUE(h.ok()) << h.status();
  EXPECT_EQ(*(*h)->NetworkFor({}), StepNetwork::kHost);
  EXPECT_EQ(*(*h)->NetworkFor(Flags{{"network", {"host"}}}), StepNetwork::kHost);
}

TEST_F(StepSandboxesTest, BadOptionsAreOneClearError) {
  struct Case {
    SandboxOptions options;
    const char* message;
  };
  std::vector<Case> cases(9);
  cases[0].options.allow = {"device"};
  cases[0].message = "--allow device: unknown entitlement (network.host, security.insecure)";
  cases[1].options.security_opts = {"apparmor=unconfined"};
  cases[1].message =
      "--security-opt apparmor=unconfined: not supported (kiln takes seccomp=unconfined, "
      "seccomp=PROFILE.json and no-new-privileges)";
  cases[2].options.security_opts = {"seccomp=/nonexistent/profile.json"};
  cases[2].message =
      "--security-opt seccomp=/nonexistent/profile.json: open /nonexistent/profile.json: No such "
      "file or directory";
  cases[3].options.cap_add = {"CAP_FLY"};
  cases[3].message = "--cap-add: unknown capability \"CAP_FLY\"";
  cases[4].options.memory = "lots";
  cases[4].message = "--memory: \"lots\" is not a size (like 512m or 2g)";
  cases[5].options.memory_swap = "1g";
  cases[5].message = "--memory-swap needs --memory (it is memory plus swap)";
  cases[6].options.memory = "1g";
  cases[6].options.memory_swap = "512m";
  cases[6].message = "--memory-swap is memory plus swap: it must be at least --memory (or -1)";
  cases[7].options.cpus = 0;
  cases[7].message = "--cpus wants a number of CPUs above 0, like 1.5";
  cases[8].options.ulimits = {"nofile"};
  cases[8].message = "--ulimit nofile: want NAME=SOFT[:HARD]";
  for (const Case& c : cases) {
    auto s = Make(c.options);
    ASSERT_FALSE(s.ok()) << c.message;
    EXPECT_EQ(s.status().message(), c.message);
  }
  std::string profile = dir_->path() + "/bad.json";
  ASSERT_TRUE(WriteFileAtomic(profile, "{\"defaultAction\": \"SCMP_ACT_MAYBE\"}").ok());
  SandboxOptions bad_profile;
  bad_profile.security_opts = {"seccomp=" + profile};
  EXPECT_EQ(
      Make(bad_profile).status().message(),
      "--security-opt seccomp=" + profile + ": defaultAction: unknown action \"SCMP_ACT_MAYBE\"");
}

TEST_F(StepSandboxesTest, PreparesAStepsSpec) {
  ASSERT_EQ(::geteuid(), 0u);
  SandboxOptions options;
  options.cap_add = {"SYS_PTRACE"};
  options.ulimits = {"nofile=100:200"};
  options.add_hosts = {"db:10.0.0.7"};
  options.shm_size = "1m";
  options.allow = {"security.insecure"};
  auto s = Make(options);
  ASSERT_TRUE(s.ok()) << s.status();
  sandbox::SandboxSpec spec;
  auto resources = (*s)->Prepare(Flags{{"network", {"none"}}}, &spec);
  ASSERT_TRUE(resources.ok()) << resources.status();
  EXPECT_NE(spec.userns, nullptr);  // root's steps run in the steps' user namespace
  EXPECT_TRUE(spec.capabilities.Has(CAP_SYS_PTRACE));
  EXPECT_NE(spec.seccomp, nullptr);
  EXPECT_TRUE(spec.mask_paths);
  EXPECT_EQ(spec.network, sandbox::SandboxSpec::Network::kNone);
  ASSERT_EQ(spec.rlimits.size(), 1u);
  EXPECT_EQ(spec.shm_size, 1u << 20);
  EXPECT_EQ(*ReadFile(spec.hosts, 4096),
            "127.0.0.1\tlocalhost kiln\n::1\tlocalhost ip6-localhost ip6-loopback\n"
            "10.0.0.7\tdb\n");
  EXPECT_FALSE((*resources)->OutOfMemory());

  sandbox::SandboxSpec insecure;
  auto r2 = (*s)->Prepare(Flags{{"network", {"none"}}, {"security", {"insecure"}}}, &insecure);
  ASSERT_TRUE(r2.ok()) << r2.status();
  EXPECT_EQ(insecure.capabilities, sandbox::CapabilitySet::All());
  EXPECT_EQ(insecure.seccomp, nullptr);
  EXPECT_FALSE(insecure.mask_paths);
  EXPECT_NE(insecure.userns, nullptr);  // still not root on the host

  SandboxOptions host_ids;
  host_ids.userns_host = true;
  host_ids.security_opts = {"seccomp=unconfined"};
  auto h = Make(host_ids);
  ASSERT_TRUE(h.ok()) << h.status();
  sandbox::SandboxSpec plain;
  auto r3 = (*h)->Prepare(Flags{{"network", {"none"}}}, &plain);
  ASSERT_TRUE(r3.ok()) << r3.status();
  EXPECT_EQ(plain.userns, nullptr);
  EXPECT_EQ(plain.seccomp, nullptr);
}

}  // namespace
}  // namespace kiln::builder
