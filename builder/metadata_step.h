// The steps that change only the image config: ENV, LABEL, ARG (history only), EXPOSE,
// VOLUME, USER, CMD, ENTRYPOINT, SHELL, STOPSIGNAL, MAINTAINER, ONBUILD and HEALTHCHECK. They
// read no file and make no layer, so a cache hit redoes them from the state in hand.
#ifndef KILN_BUILDER_METADATA_STEP_H_
#define KILN_BUILDER_METADATA_STEP_H_

#include "absl/status/status.h"
#include "builder/plan.h"
#include "oci/image_config.h"

namespace kiln::builder {

bool IsMetadataStep(const PlannedInstruction& p);

// Applies the instruction to `image` as Docker does (a later ENV of a name replaces the
// earlier one, EXPOSE defaults to /tcp and lists each port once, a new ENTRYPOINT drops the
// base's CMD, HEALTHCHECK's durations are Go durations). The history is the caller's.
absl::Status ApplyMetadataStep(const PlannedInstruction& p, oci::ImageConfig* image);

}  // namespace kiln::builder

#endif  // KILN_BUILDER_METADATA_STEP_H_
