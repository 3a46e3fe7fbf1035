// kiln dockerfile dump|plan: the Dockerfile frontend on its own, for scripts and comparison
// with the reference parser.
#include <cstdio>

#include "absl/strings/str_split.h"
#include "base/file_util.h"
#include "base/status_macros.h"
#include "builder/dockerfile/parser.h"
#include "builder/plan.h"
#include "cli/common.h"

namespace kiln::cli {
namespace {

absl::StatusOr<builder::dockerfile::Dockerfile> Load(const std::string& file) {
  ASSIGN_OR_RETURN(std::string content, ReadFile(file, builder::dockerfile::kMaxDockerfileSize));
  return builder::dockerfile::Parse(content, file);
}

struct PlanOptions {
  std::string file, target, format = "json";
  std::vector<std::string> build_args;
  std::string platform;
};

absl::Status RunPlan(const PlanOptions& o) {
  ASSIGN_OR_RETURN(builder::dockerfile::Dockerfile df, Load(o.file));
  builder::PlanOptions options;
  options.target = o.target;
  for (const std::string& kv : o.build_args) {
    std::pair<std::string, std::string> p = absl::StrSplit(kv, absl::MaxSplits('=', 1));
    if (p.first.empty()) return absl::InvalidArgumentError("--build-arg wants KEY=VALUE");
    if (kv.find('=') == std::string::npos) {
      // KEY alone takes the value from the environment, as docker build does.
      const char* env = std::getenv(p.first.c_str());
      if (env == nullptr) continue;
      p.second = env;
    }
    options.build_args[p.first] = p.second;
  }
  if (!o.platform.empty()) {
    ASSIGN_OR_RETURN(options.target_platform, oci::Platform::Parse(o.platform));
  }
  ASSIGN_OR_RETURN(builder::Plan plan, builder::MakePlan(df, options));
  for (const std::string& w : plan.warnings) std::fprintf(stderr, "%s\n", w.c_str());
  std::string out =
      o.format == "json"
          ? plan.ToJson().dump(2, ' ', false, nlohmann::json::error_handler_t::replace)
          : plan.ToText();
  std::printf("%s\n", out.c_str());
  return absl::OkStatus();
}

}  // namespace

void AddDockerfileCommand(CLI::App& app, Globals& g) {
  CLI::App* cmd = app.add_subcommand("dockerfile", "Parse and plan Dockerfiles");
  cmd->require_subcommand(1);

  auto file = std::make_shared<std::string>();
  CLI::App* dump = cmd->add_subcommand(
      "dump", "Print the parse tree, one instruction per line, as BuildKit's dumper does");
  dump->add_option("FILE", *file, "Dockerfile")->required();
  dump->callback([&g, file] {
    g.run = [file]() -> absl::Status {
      // The parse tree only, as BuildKit's parser gives it: instruction checks (flags,
      // argument shapes) belong to plan and build.
      ASSIGN_OR_RETURN(builder::dockerfile::Dockerfile df, Load(*file));
      for (const std::string& w : df.warnings) std::fprintf(stderr, "%s\n", w.c_str());
      std::fputs(df.Dump().c_str(), stdout);
      return absl::OkStatus();
    };
  });

  auto p = std::make_shared<PlanOptions>();
  CLI::App* plan = cmd->add_subcommand(
      "plan", "Print the stages a target needs, in build order, with arguments expanded");
  plan->add_option("FILE", p->file, "Dockerfile")->required();
  plan->add_option("--target", p->target, "Stage to build (default: the last)");
  plan->add_option("--build-arg", p->build_args, "KEY=VALUE (repeatable)")->allow_extra_args(false);
  plan->add_option("--platform", p->platform, "Target platform (default: this machine's)");
  plan->add_option("--format", p->format, "json or text")->check(CLI::IsMember({"json", "text"}));
  plan->callback([&g, p] { g.run = [p] { return RunPlan(*p); }; });
}

}  // namespace kiln::cli
