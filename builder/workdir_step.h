// WORKDIR sets the working directory and, as BuildKit does, makes it when the image lacks it
// (through the image's symlinks, with missing parents), owned by the current USER: a layer
// of its own, or none when the directory is there.
#ifndef KILN_BUILDER_WORKDIR_STEP_H_
#define KILN_BUILDER_WORKDIR_STEP_H_

#include "absl/status/status.h"
#include "builder/build_session.h"
#include "builder/plan.h"
#include "builder/stage_run.h"

namespace kiln::builder {

absl::Status WorkdirStep(BuildSession& session, const PlannedInstruction& p, const StageRun& run,
                         ImageState* state);

}  // namespace kiln::builder

#endif  // KILN_BUILDER_WORKDIR_STEP_H_
