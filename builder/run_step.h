// RUN: the command runs in a sandbox over the image's unpacked layers, with the step's
// --mount's (bind, cache, tmpfs), as the image's USER in its working directory; the overlay's
// upper directory becomes the step's layer. Its output is reported line by line.
#ifndef KILN_BUILDER_RUN_STEP_H_
#define KILN_BUILDER_RUN_STEP_H_

#include "absl/status/status.h"
#include "builder/build_session.h"
#include "builder/plan.h"
#include "builder/stage_run.h"

namespace kiln::builder {

// Runs the RUN step `p` of `run` on `state`, which gains its layer and history entry. A
// command that fails is an Aborted error with its exit code and last lines of output; one
// the memory limit killed is ResourceExhausted.
absl::Status RunStep(BuildSession& session, const PlannedInstruction& p, const StageRun& run,
                     ImageState* state);

}  // namespace kiln::builder

#endif  // KILN_BUILDER_RUN_STEP_H_
