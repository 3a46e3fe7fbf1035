// The `created_by` text an image's history records for each Dockerfile step, written as
// BuildKit writes it, so that `history` reads the same whichever of the two built an image:
// "RUN |2 a=1 b=2 /bin/sh -c make", "COPY --chown=1:1 src /dst", `CMD ["sh" "-c" "x"]`,
// "EXPOSE [80/tcp 53/udp]", "WORKDIR /abs/path", "ARG a=1 b".
// Pure functions of the step and the image config it leaves; thread-safe.
#ifndef KILN_BUILDER_HISTORY_H_
#define KILN_BUILDER_HISTORY_H_

#include <string>
#include <utility>
#include <vector>

#include "builder/plan.h"
#include "oci/image_config.h"

namespace kiln::builder {

// A RUN step's text: the stage's build args in the order declared ("|N k=v ..."), then the
// command it ran (`argv`, the shell included for the shell form).
std::string RunCreatedBy(const std::vector<std::string>& argv,
                         const std::vector<std::pair<std::string, std::string>>& build_args);

// Any other step's text, from its planned instruction and the container config as the step
// leaves it. Empty for ONBUILD, which (as in BuildKit) records no history.
std::string CreatedBy(const PlannedInstruction& p, const oci::ContainerConfig& after);

// Go's time.Duration String form: "0s", "1.5s", "1m30s", "1h0m0s", "250ms".
std::string GoDurationString(int64_t ns);

}  // namespace kiln::builder

#endif  // KILN_BUILDER_HISTORY_H_
