// The pure parts of the step kinds: metadata steps applied to a config, and the command a
// RUN step executes.
#include <memory>
#include <string>
#include <vector>

#include "builder/dockerfile/parser.h"
#include "builder/metadata_step.h"
#include "builder/plan.h"
#include "builder/run_command.h"
#include "gtest/gtest.h"

namespace kiln::builder {
namespace {

using Strings = std::vector<std::string>;

// The instructions of a one-stage Dockerfile, planned (the plans point into `keep`).
std::vector<PlannedInstruction> Steps(absl::string_view text) {
  static std::vector<std::unique_ptr<dockerfile::Dockerfile>> keep;
  auto df = dockerfile::Parse(text, "Dockerfile");
  EXPECT_TRUE(df.ok()) << df.status();
  keep.push_back(std::make_unique<dockerfile::Dockerfile>(*std::move(df)));
  auto plan = MakePlan(*keep.back(), {});
  EXPECT_TRUE(plan.ok()) << plan.status();
  return plan->stages.back().instructions;
}

oci::ImageConfig Apply(absl::string_view text) {
  oci::ImageConfig image;
  for (const PlannedInstruction& p : Steps(text)) {
    EXPECT_TRUE(IsMetadataStep(p)) << p.instruction;
    absl::Status s = ApplyMetadataStep(p, &image);
    EXPECT_TRUE(s.ok()) << p.line << ": " << s;
  }
  return image;
}

TEST(MetadataStepTest, LaterEnvReplacesEarlierAndKeepsOrder) {
  oci::ImageConfig image = Apply("FROM scratch\nENV A=1 B=2\nENV A=3\nENV AB=4\n");
  EXPECT_EQ(image.config.env, (Strings{"B=2", "A=3", "AB=4"}));
}

TEST(MetadataStepTest, ExposeDefaultsToTcpAndListsEachPortOnce) {
  oci::ImageConfig image = Apply("FROM scratch\nEXPOSE 80 53/udp\nEXPOSE 80/tcp 443\n");
  EXPECT_EQ(image.config.exposed_ports, (Strings{"80/tcp", "53/udp", "443/tcp"}));
}

TEST(MetadataStepTest, EntrypointDropsTheCmdAndShellFormUsesTheShell) {
  oci::ImageConfig image =
      Apply("FROM scratch\nCMD [\"a\"]\nSHELL [\"/bin/bash\", \"-c\"]\nENTRYPOINT run me\n");
  EXPECT_FALSE(image.config.cmd.has_value());
  ASSERT_TRUE(image.config.entrypoint.has_value());
  EXPECT_EQ(*image.config.entrypoint, (Strings{"/bin/bash", "-c", "run me"}));
}

TEST(MetadataStepTest, HealthcheckDurationsAndRetries) {
  oci::ImageConfig image =
      Apply("FROM scratch\nHEALTHCHECK --interval=1m30s --timeout=5s --retries=4 CMD curl -f x\n");
  ASSERT_TRUE(image.config.healthcheck.has_value());
  EXPECT_EQ(image.config.healthcheck->test, (Strings{"CMD-SHELL", "curl -f x"}));
  EXPECT_EQ(image.config.healthcheck->interval_ns, 90'000'000'000);
  EXPECT_EQ(image.config.healthcheck->timeout_ns, 5'000'000'000);
  EXPECT_EQ(image.config.healthcheck->retries, 4);
  image = Apply("FROM scratch\nHEALTHCHECK NONE\n");
  EXPECT_EQ(image.config.healthcheck->test, (Strings{"NONE"}));
}

TEST(MetadataStepTest, LabelsVolumesUserAndMaintainer) {
  oci::ImageConfig image =
      Apply("FROM scratch\nLABEL a=1 \"b c\"=\"d e\"\nVOLUME /v /v /w\nUSER 1:2\nMAINTAINER me\n");
  EXPECT_EQ(image.config.labels.at("a"), "1");
  EXPECT_EQ(image.config.labels.at("b c"), "d e");
  EXPECT_EQ(image.config.volumes, (Strings{"/v", "/w"}));
  EXPECT_EQ(image.config.user, "1:2");
  EXPECT_EQ(image.author, "me");
}

TEST(MetadataStepTest, LayerStepsAreNotMetadata) {
  for (const PlannedInstruction& p :
       Steps("FROM scratch\nRUN x\nCOPY a b\nADD a b\nWORKDIR /w\n")) {
    EXPECT_FALSE(IsMetadataStep(p)) << p.instruction;
  }
}

RunCommand CommandFor(absl::string_view text, oci::ContainerConfig config = {}) {
  std::vector<PlannedInstruction> steps = Steps(text);
  absl::StatusOr<RunCommand> c = CommandOf(steps.back(), config);
  EXPECT_TRUE(c.ok()) << c.status();
  return c.ok() ? *c : RunCommand{};
}

TEST(RunCommandTest, ShellExecAndTheImagesShell) {
  EXPECT_EQ(CommandFor("FROM scratch\nRUN echo hi\n").argv, (Strings{"/bin/sh", "-c", "echo hi"}));
  EXPECT_EQ(CommandFor("FROM scratch\nRUN [\"/bin/true\", \"x\"]\n").argv,
            (Strings{"/bin/true", "x"}));
  oci::ContainerConfig bash;
  bash.shell = {"/bin/bash", "-eu", "-c"};
  EXPECT_EQ(CommandFor("FROM scratch\nRUN echo hi\n", bash).argv,
            (Strings{"/bin/bash", "-eu", "-c", "echo hi"}));
}

TEST(RunCommandTest, AHeredocScriptRunsThroughTheShellOrItsInterpreter) {
  RunCommand c = CommandFor("FROM scratch\nRUN <<EOF\necho one\necho two\nEOF\n");
  EXPECT_EQ(c.argv, (Strings{"/bin/sh", "-c", "echo one\necho two\n"}));
  EXPECT_FALSE(c.has_stdin_script);
  c = CommandFor("FROM scratch\nRUN <<'EOT'\n#!/usr/bin/env python3 -u\nprint(1)\nEOT\n");
  EXPECT_EQ(c.argv, (Strings{"/usr/bin/env", "python3 -u", "/dev/stdin"}));
  EXPECT_TRUE(c.has_stdin_script);
  EXPECT_EQ(c.stdin_script, "#!/usr/bin/env python3 -u\nprint(1)\n");
}

TEST(RunCommandTest, HeredocsAfterACommandAreFedByTheShell) {
  RunCommand c = CommandFor("FROM scratch\nRUN cat <<A > /a\nfirst\nA\n");
  EXPECT_EQ(c.argv, (Strings{"/bin/sh", "-c", "cat <<A > /a\nfirst\nA"}));
}

TEST(RunCommandTest, AnEmptyShebangIsAnError) {
  std::vector<PlannedInstruction> steps = Steps("FROM scratch\nRUN <<EOF\n#!\nx\nEOF\n");
  EXPECT_FALSE(CommandOf(steps.back(), {}).ok());
}

TEST(RunEnvironmentTest, ImageEnvWinsOverArgsAndProxiesNeedNoDeclaration) {
  std::vector<std::string> env =
      RunEnvironment({{"HTTP_PROXY", "http://p:3128"}, {"UNDECLARED", "x"}},
                     {{"A", "arg"}, {"B", "arg"}}, {"B=env", "PATH=/bin"}, "/home/u", 7);
  EXPECT_EQ(env, (Strings{"A=arg", "B=env", "HOME=/home/u", "HTTP_PROXY=http://p:3128", "PATH=/bin",
                          "SOURCE_DATE_EPOCH=7"}));
  env = RunEnvironment({}, {}, {}, "/root", 0);
  EXPECT_EQ(env, (Strings{"HOME=/root", std::string("PATH=") + oci::kDefaultPath,
                          "SOURCE_DATE_EPOCH=0"}));
  // A declared ARG (or ENV) of that name keeps its own value.
  env = RunEnvironment({}, {{"SOURCE_DATE_EPOCH", "5"}}, {}, "/root", 9);
  EXPECT_EQ(env.back(), "SOURCE_DATE_EPOCH=5");
}

}  // namespace
}  // namespace kiln::builder
