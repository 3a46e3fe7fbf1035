// Fuzz target: parsing, checking and planning any bytes must never crash; a successful parse
// must dump without crashing.
#include <cstdint>
#include <string>

#include "builder/dockerfile/instructions.h"
#include "builder/dockerfile/parser.h"
#include "builder/dockerfile/run_mount.h"
#include "builder/plan.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  auto df = kiln::builder::dockerfile::Parse(text, "Dockerfile");
  if (!df.ok()) return 0;
  (void)df->Dump();
  (void)kiln::builder::dockerfile::CheckInstructions(*df);
  kiln::builder::PlanOptions options;
  options.build_args = {{"A", "1"}};
  auto plan = kiln::builder::MakePlan(*df, options);
  if (plan.ok())
    (void)plan->ToJson().dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  // RUN --mount values are parsed when the step runs.
  for (const auto& node : df->nodes) {
    for (const std::string& flag : node.flags) {
      if (flag.rfind("--mount=", 0) == 0)
        (void)kiln::builder::dockerfile::ParseRunMount(flag.substr(8));
    }
  }
  return 0;
}
