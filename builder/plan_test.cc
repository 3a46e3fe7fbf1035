#include "builder/plan.h"

#include "gtest/gtest.h"

namespace kiln::builder {
namespace {

absl::StatusOr<Plan> PlanOf(absl::string_view text, PlanOptions options = {}) {
  static std::vector<std::unique_ptr<dockerfile::Dockerfile>> keep;  // plans point into these
  auto df = dockerfile::Parse(text, "Dockerfile");
  if (!df.ok()) return df.status();
  keep.push_back(std::make_unique<dockerfile::Dockerfile>(*std::move(df)));
  options.target_platform = {"linux", "arm64", "v8"};
  options.build_platform = {"linux", "amd64"};
  return MakePlan(*keep.back(), options);
}

std::vector<std::string> Args(const Plan& plan, int stage, int instruction) {
  return plan.stages[stage].instructions[instruction].args;
}

TEST(PlanTest, GlobalArgsOnlyInFrom) {
  auto plan = PlanOf(R"(ARG IMAGE=busybox
ARG TAG=1
FROM ${IMAGE}:${TAG}
RUN echo $TAG
LABEL tag=${TAG}
ARG TAG
LABEL tag=${TAG}
)");
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->stages[0].base, "busybox:1");
  EXPECT_EQ(Args(*plan, 0, 1), std::vector<std::string>{"tag="});   // not declared in stage yet
  EXPECT_EQ(Args(*plan, 0, 2), std::vector<std::string>{"TAG=1"});  // re-declared: global value
  EXPECT_EQ(Args(*plan, 0, 3), std::vector<std::string>{"tag=1"});
  EXPECT_EQ(plan->meta_args.at("TAG"), "1");
}

TEST(PlanTest, BuildArgsOverrideAndEnvWins) {
  PlanOptions options;
  options.build_args = {{"V", "from-cli"}, {"UNUSED", "x"}, {"HTTP_PROXY", "http://p"}};
  auto plan = PlanOf(R"(FROM scratch
ARG V=default
ENV V=env-value
WORKDIR /w/$V
ENV A=1 B=$A
ENV C=$A
)",
                     options);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(Args(*plan, 0, 0), std::vector<std::string>{"V=from-cli"});
  EXPECT_EQ(Args(*plan, 0, 2), std::vector<std::string>{"/w/env-value"});
  EXPECT_EQ(Args(*plan, 0, 3), (std::vector<std::string>{"A=1", "B="}));
  EXPECT_EQ(Args(*plan, 0, 4), std::vector<std::string>{"C=1"});
  ASSERT_EQ(plan->warnings.size(), 1u);
  EXPECT_EQ(plan->warnings[0], "[Warning] One or more build-args [UNUSED] were not consumed");
}

TEST(PlanTest, PlatformArgs) {
  auto plan = PlanOf(R"(FROM --platform=$BUILDPLATFORM busybox AS build
ARG TARGETARCH TARGETPLATFORM
RUN echo $TARGETARCH
COPY out-${TARGETARCH} /bin/
)");
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->stages[0].platform, "linux/amd64");
  EXPECT_EQ(Args(*plan, 0, 0),
            (std::vector<std::string>{"TARGETARCH=arm64", "TARGETPLATFORM=linux/arm64/v8"}));
  EXPECT_EQ(Args(*plan, 0, 1), std::vector<std::string>{"echo $TARGETARCH"});  // RUN: not expanded
  EXPECT_EQ(Args(*plan, 0, 2), (std::vector<std::string>{"out-arm64", "/bin/"}));
}

TEST(PlanTest, StagesTargetsAndPruning) {
  const char* df = R"(FROM busybox AS base
ENV FROM_BASE=yes
FROM base AS build
RUN make
FROM busybox AS unrelated
RUN true
FROM scratch AS final
COPY --from=build /out /out
COPY --from=0 /etc/passwd /etc/passwd
COPY --from=alpine:3 /bin/sh /bin/sh
RUN --mount=type=bind,from=unrelated,target=/u true
FROM final AS tested
RUN test
)";
  auto plan = PlanOf(df);
  ASSERT_TRUE(plan.ok()) << plan.status();
  std::vector<int> order;
  for (const Stage& s : plan->stages) order.push_back(s.index);
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3, 4}));
  EXPECT_EQ(plan->stages[1].base_stage, 0);
  EXPECT_EQ(plan->stages[1].env.at("FROM_BASE"), "yes");
  EXPECT_EQ(plan->stages[3].images, std::vector<std::string>{"alpine:3"});

  PlanOptions options;
  options.target = "BUILD";
  plan = PlanOf(df, options);
  ASSERT_TRUE(plan.ok()) << plan.status();
  ASSERT_EQ(plan->stages.size(), 2u);
  EXPECT_EQ(plan->stages[1].name, "build");

  options.target = "nope";
  EXPECT_EQ(PlanOf(df, options).status().message(), "target stage \"nope\" could not be found");
}

TEST(PlanTest, Errors) {
  EXPECT_EQ(PlanOf("RUN x\nFROM a\n").status().message(),
            "Dockerfile:1:1: RUN is not allowed before the first FROM (no build stage in current "
            "context)\n    RUN x\n    ^");
  EXPECT_EQ(PlanOf("ARG x\n").status().message(),
            "Dockerfile: dockerfile contains no stages to build (no FROM)");
  EXPECT_NE(PlanOf("FROM a AS x\nFROM b AS X\n").status().message().find("duplicate stage name"),
            std::string::npos);
  EXPECT_NE(PlanOf("FROM a AS one\nCOPY --from=two a b\nFROM b AS two\n")
                .status()
                .message()
                .find("cannot copy from stage \"two\", it needs to be defined before current "
                      "stage \"one\""),
            std::string::npos);
  auto later = PlanOf(
      "FROM a AS one\nRUN --mount=from=two,target=/x true\nFROM b AS two\nCOPY --from=one a b\n");
  EXPECT_NE(later.status().message().find("cannot mount from stage \"two\", stage needs to be "
                                          "defined before current command"),
            std::string::npos)
      << later.status();
  EXPECT_NE(PlanOf("FROM a\nRUN --mount=typ=cache x\n")
                .status()
                .message()
                .find("Dockerfile:2:1: unexpected key 'typ' in 'typ=cache' (did you mean type?)"),
            std::string::npos);
  EXPECT_NE(PlanOf("FROM a AS self\nCOPY --from=self a b\n").status().message().find("circular"),
            std::string::npos);
  EXPECT_NE(PlanOf("FROM a\nCOPY --from=3 a b\n").status().message().find("not defined before"),
            std::string::npos);
  EXPECT_NE(PlanOf("FROM $UNSET\n").status().message().find("should not be blank"),
            std::string::npos);
  EXPECT_NE(PlanOf("FROM a\nWORKDIR ${x\n").status().message().find("missing '}'"),
            std::string::npos);
}

TEST(PlanTest, JsonShape) {
  auto plan = PlanOf("FROM busybox AS b\nCOPY --chown=1:1 a /b\n");
  ASSERT_TRUE(plan.ok());
  nlohmann::json j = plan->ToJson();
  EXPECT_EQ(j["stages"][0]["name"], "b");
  EXPECT_EQ(j["stages"][0]["base"], "busybox");
  EXPECT_EQ(j["stages"][0]["instructions"][0]["line"], 2);
  EXPECT_EQ(j["stages"][0]["instructions"][0]["instruction"], "COPY");
  EXPECT_EQ(j["stages"][0]["instructions"][0]["flags"]["chown"], "1:1");
}

TEST(PlanTest, OnbuildTriggersOfImageBases) {
  PlanOptions options;
  options.image_env = [](const std::string&,
                         const oci::Platform&) -> absl::StatusOr<std::vector<std::string>> {
    return std::vector<std::string>{"DIR=/opt"};
  };
  options.image_triggers = [](const std::string& image,
                              const oci::Platform&) -> absl::StatusOr<std::vector<std::string>> {
    if (image == "parent:1") return std::vector<std::string>{"COPY . $DIR/src", "RUN make"};
    return std::vector<std::string>{};
  };
  auto plan =
      PlanOf("FROM parent:1 AS a\nRUN test\nONBUILD RUN hook\nFROM a\nRUN again\n", options);
  ASSERT_TRUE(plan.ok()) << plan.status();
  const Stage& a = plan->stages[0];
  ASSERT_EQ(a.instructions.size(), 4u);
  EXPECT_EQ(a.instructions[0].instruction, "COPY");
  EXPECT_EQ(a.instructions[0].args, (std::vector<std::string>{".", "/opt/src"}));  // expanded
  EXPECT_EQ(a.instructions[0].line, 1);  // reported at the FROM
  EXPECT_EQ(a.instructions[1].instruction, "RUN");
  EXPECT_EQ(a.instructions[2].args, std::vector<std::string>{"test"});
  // A stage base runs not the image's triggers but the ONBUILD lines of its base stage.
  const Stage& b = plan->stages[1];
  ASSERT_EQ(b.instructions.size(), 2u);
  EXPECT_EQ(b.instructions[0].args, std::vector<std::string>{"hook"});
  EXPECT_EQ(b.instructions[0].line, 4);
  EXPECT_EQ(b.instructions[1].args, std::vector<std::string>{"again"});

  options.image_triggers = [](const std::string&,
                              const oci::Platform&) -> absl::StatusOr<std::vector<std::string>> {
    return std::vector<std::string>{"FROM other"};
  };
  auto bad = PlanOf("FROM parent:1\n", options);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find(
                "Dockerfile:1:1: ONBUILD trigger \"FROM other\" of parent:1: FROM is not allowed"),
            std::string::npos)
      << bad.status();
}

// BuildKit's automatic platform ARGs, FROM --platform, and the platform each stage is built
// for (what its base image is resolved for).
TEST(PlanTest, PlatformsOfStages) {
  PlanOptions options;  // PlanOf builds for linux/arm64/v8 on linux/amd64
  std::vector<std::string> asked;
  options.image_env = [&](const std::string& image,
                          const oci::Platform& p) -> absl::StatusOr<std::vector<std::string>> {
    asked.push_back(image + " " + p.str());
    return std::vector<std::string>{};
  };
  auto plan = PlanOf(R"(ARG TARGETARCH
FROM --platform=$BUILDPLATFORM golang:$TARGETARCH AS build
ARG TARGETPLATFORM TARGETOS TARGETARCH TARGETVARIANT BUILDPLATFORM BUILDOS BUILDARCH BUILDVARIANT
ENV V="$TARGETPLATFORM $TARGETOS $TARGETARCH $TARGETVARIANT $BUILDPLATFORM $BUILDOS $BUILDARCH x$BUILDVARIANT"
FROM build AS more
FROM busybox
COPY --from=more /out /
)",
                     options);
  ASSERT_TRUE(plan.ok()) << plan.status();
  ASSERT_EQ(plan->stages.size(), 3u);
  EXPECT_EQ(plan->stages[0].base, "golang:arm64");
  EXPECT_EQ(plan->stages[0].runs_on.str(), "linux/amd64");
  EXPECT_EQ(plan->stages[1].runs_on.str(), "linux/amd64");  // built on the build stage
  EXPECT_EQ(plan->stages[2].runs_on.str(), "linux/arm64/v8");
  EXPECT_EQ(plan->stages[0].env["V"], "linux/arm64/v8 linux arm64 v8 linux/amd64 linux amd64 x");
  EXPECT_EQ(asked,
            (std::vector<std::string>{"golang:arm64 linux/amd64", "busybox linux/arm64/v8"}));
  auto bad = PlanOf("FROM --platform=linux/ busybox\n", options);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("Dockerfile:1:1: invalid --platform"), std::string::npos)
      << bad.status();
}

TEST(PlanTest, NamedContextsReplaceStagesAndBases) {
  PlanOptions options;
  options.named_contexts["base"] = {NamedContext::Kind::kImage, "docker.io/library/alpine:latest"};
  options.named_contexts["busybox"] = {NamedContext::Kind::kDir, "/srv/files"};
  auto plan = PlanOf(R"(FROM debian AS base
RUN echo never
COPY --from=nosuch / /
FROM base AS mid
RUN echo mid
FROM docker.io/library/busybox:latest
COPY --from=mid / /
)",
                     options);
  ASSERT_TRUE(plan.ok()) << plan.status();
  ASSERT_EQ(plan->stages.size(), 3u);
  // The replaced stage: the context's image under the stage's name, none of its steps.
  EXPECT_EQ(plan->stages[0].base, "base");
  EXPECT_EQ(plan->stages[0].base_stage, -1);
  EXPECT_TRUE(plan->stages[0].instructions.empty());
  EXPECT_TRUE(plan->stages[0].depends_on.empty());
  // A stage built on it is built on the stage as usual.
  EXPECT_EQ(plan->stages[1].base_stage, 0);
  // A base image of a directory's name: scratch and a copy of the directory.
  const Stage& last = plan->stages[2];
  EXPECT_EQ(last.base, "scratch");
  ASSERT_EQ(last.instructions.size(), 2u);
  EXPECT_EQ(last.instructions[0].ToText(), "COPY --from=docker.io/library/busybox:latest . /");
  EXPECT_TRUE(last.instructions[0].from_named_context);
  EXPECT_EQ(last.instructions[0].from_stage, -1);
  EXPECT_EQ(last.instructions[1].from_stage, 1);
}

}  // namespace
}  // namespace kiln::builder
