#include "builder/container.h"

#include "gtest/gtest.h"

namespace kiln::builder {
namespace {

TEST(ParseVolume, HostAndTarget) {
  auto v = ParseVolume("/srv/data:/data");
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->host, "/srv/data");
  EXPECT_EQ(v->target, "/data");
  EXPECT_FALSE(v->read_only);
}

TEST(ParseVolume, Modes) {
  auto ro = ParseVolume("/a:/b/../c:ro");
  ASSERT_TRUE(ro.ok()) << ro.status();
  EXPECT_TRUE(ro->read_only);
  EXPECT_EQ(ro->target, "/c");
  auto rw = ParseVolume("/a:/b:rw");
  ASSERT_TRUE(rw.ok()) << rw.status();
  EXPECT_FALSE(rw->read_only);
  EXPECT_FALSE(ParseVolume("/a:/b:z").ok());
}

TEST(ParseVolume, ScratchVolume) {
  auto v = ParseVolume("/cache");
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_TRUE(v->host.empty());
  EXPECT_EQ(v->target, "/cache");
}

TEST(ParseVolume, Refusals) {
  EXPECT_FALSE(ParseVolume("named:/data").ok());  // no named volumes
  EXPECT_FALSE(ParseVolume("/a:data").ok());
  EXPECT_FALSE(ParseVolume("/a:/").ok());
  EXPECT_FALSE(ParseVolume("").ok());
  EXPECT_FALSE(ParseVolume("/a:/b:ro:x").ok());
}

TEST(ContainerArgv, DockerRules) {
  oci::ContainerConfig c;
  c.entrypoint = std::vector<std::string>{"/entry"};
  c.cmd = std::vector<std::string>{"serve"};
  ContainerOptions o;
  EXPECT_EQ(*ContainerArgv(c, o), (std::vector<std::string>{"/entry", "serve"}));
  o.command = {"check", "--all"};
  EXPECT_EQ(*ContainerArgv(c, o), (std::vector<std::string>{"/entry", "check", "--all"}));
  // A new entrypoint drops the image's CMD.
  o.command.clear();
  o.entrypoint = std::vector<std::string>{"/bin/sh"};
  EXPECT_EQ(*ContainerArgv(c, o), (std::vector<std::string>{"/bin/sh"}));
  o.entrypoint = std::vector<std::string>{};
  o.command = {"ls"};
  EXPECT_EQ(*ContainerArgv(c, o), (std::vector<std::string>{"ls"}));
  EXPECT_FALSE(ContainerArgv(oci::ContainerConfig{}, ContainerOptions{}).ok());
}

TEST(ContainerEnv, ImageThenFlags) {
  std::vector<std::string> env =
      ContainerEnv({"PATH=/opt/bin", "A=1", "B=2"}, {"B=3", "C=4"}, "box", "/root");
  EXPECT_EQ(env, (std::vector<std::string>{"PATH=/opt/bin", "HOSTNAME=box", "A=1", "B=3",
                                           "HOME=/root", "C=4"}));
  std::vector<std::string> bare = ContainerEnv({"HOME=/home/x"}, {}, "kiln", "/root");
  EXPECT_EQ(bare[0], std::string("PATH=") + oci::kDefaultPath);
  EXPECT_EQ(bare[1], "HOSTNAME=kiln");
  EXPECT_EQ(bare[2], "HOME=/home/x");
  EXPECT_EQ(bare.size(), 3u);
}

}  // namespace
}  // namespace kiln::builder
