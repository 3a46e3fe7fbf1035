#include "builder/history.h"

#include "gtest/gtest.h"

namespace kiln::builder {
namespace {

PlannedInstruction Step(std::string name, std::vector<std::string> args,
                        std::map<std::string, std::vector<std::string>> flags = {}) {
  PlannedInstruction p;
  p.instruction = std::move(name);
  p.args = std::move(args);
  p.flags = std::move(flags);
  return p;
}

TEST(HistoryTest, RunListsTheBuildArgsInOrderThenTheCommand) {
  EXPECT_EQ(RunCreatedBy({"/bin/sh", "-c", "ls /etc/"}, {{"foo", "bar2"}, {"bar", "123"}}),
            "RUN |2 foo=bar2 bar=123 /bin/sh -c ls /etc/");
  EXPECT_EQ(RunCreatedBy({"ls"}, {}), "RUN ls");
}

TEST(HistoryTest, CopyNamesOwnerModeAndParentsButNotTheSourceStage) {
  oci::ContainerConfig c;
  EXPECT_EQ(CreatedBy(Step("COPY", {"foo2", "foo3"}, {{"from", {"base"}}}), c), "COPY foo2 foo3");
  EXPECT_EQ(CreatedBy(Step("ADD", {"a", "b", "/d/"},
                           {{"chown", {"1:2"}}, {"chmod", {"755"}}, {"parents", {"true"}}}),
                      c),
            "ADD --parents --chown=1:2 --chmod=755 a b /d/");
}

TEST(HistoryTest, ConfigInstructionsUseGoFormatting) {
  oci::ContainerConfig c;
  c.cmd = std::vector<std::string>{"/bin/sh", "-c", "echo \"hi\""};
  c.working_dir = "/a/b";
  EXPECT_EQ(CreatedBy(Step("CMD", {"echo \"hi\""}), c), R"(CMD ["/bin/sh" "-c" "echo \"hi\""])");
  EXPECT_EQ(CreatedBy(Step("WORKDIR", {"b"}), c), "WORKDIR /a/b");
  EXPECT_EQ(CreatedBy(Step("EXPOSE", {"2375", "5000", "1234/udp", "5000/tcp"}), c),
            "EXPOSE [1234/udp 2375/tcp 5000/tcp]");
  EXPECT_EQ(CreatedBy(Step("VOLUME", {"/a", "/b"}), c), "VOLUME [/a /b]");
  EXPECT_EQ(CreatedBy(Step("ARG", {"foo=bar", "baz"}), c), "ARG foo=bar baz");
  EXPECT_EQ(CreatedBy(Step("ENV", {"a=1", "b=x y"}), c), "ENV a=1 b=x y");
  EXPECT_EQ(CreatedBy(Step("USER", {"nobody"}), c), "USER nobody");
  EXPECT_EQ(CreatedBy(Step("ONBUILD", {"RUN x"}), c), "");
  c.healthcheck = oci::Healthcheck{{"CMD-SHELL", "true"}, 90'000'000'000, 3'000'000'000, 0, 0, 2};
  EXPECT_EQ(CreatedBy(Step("HEALTHCHECK", {}), c),
            "HEALTHCHECK {Test:[CMD-SHELL true] Interval:1m30s Timeout:3s StartPeriod:0s "
            "StartInterval:0s Retries:2}");
}

TEST(HistoryTest, DurationsAsGoPrintsThem) {
  EXPECT_EQ(GoDurationString(0), "0s");
  EXPECT_EQ(GoDurationString(1'500'000'000), "1.5s");
  EXPECT_EQ(GoDurationString(3'600'000'000'000), "1h0m0s");
  EXPECT_EQ(GoDurationString(250'000'000), "250ms");
  EXPECT_EQ(GoDurationString(1'500), "1.5µs");
  EXPECT_EQ(GoDurationString(7), "7ns");
  EXPECT_EQ(GoDurationString(-61'000'000'000), "-1m1s");
}

}  // namespace
}  // namespace kiln::builder
