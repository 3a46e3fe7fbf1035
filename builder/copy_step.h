// COPY and ADD: sources from the build context, another stage or image (--from), heredocs
// and, for ADD, URLs and tar archives (unpacked), written into a fresh diff directory that
// becomes the step's layer. Which files go where is copy_sources.h's; how they are written
// (owners, modes, the image's symlinks) is diff_writer.h's.
#ifndef KILN_BUILDER_COPY_STEP_H_
#define KILN_BUILDER_COPY_STEP_H_

#include "absl/status/status.h"
#include "builder/build_session.h"
#include "builder/plan.h"
#include "builder/stage_run.h"

namespace kiln::builder {

// Runs the COPY or ADD step `p` of `run` on `state`, which gains its layer (none when nothing
// was copied) and history entry.
absl::Status CopyStep(BuildSession& session, const PlannedInstruction& p, const StageRun& run,
                      ImageState* state);

}  // namespace kiln::builder

#endif  // KILN_BUILDER_COPY_STEP_H_
