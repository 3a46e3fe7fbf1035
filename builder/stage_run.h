// The state a build carries from step to step: the image so far, and the stage being run.
// Both are passed to each step explicitly; a stage's steps run one after another on its
// thread, so neither needs a lock.
#ifndef KILN_BUILDER_STAGE_RUN_H_
#define KILN_BUILDER_STAGE_RUN_H_

#include <map>
#include <string>
#include <vector>

#include "builder/plan.h"
#include "oci/descriptor.h"
#include "oci/image_config.h"

namespace kiln::builder {

// The image as the build has it so far.
struct ImageState {
  oci::ImageConfig config;
  std::vector<oci::Descriptor> layers;  // bottom first, one per config.diff_ids entry
  std::string key;                      // the cache key chain up to here
};

// A stage being run, passed to each of its steps: stages run concurrently, one per thread.
struct StageRun {
  const Stage& stage;
  int step = 0;                             // the step being run, numbered over the build
  std::map<std::string, std::string> args;  // the stage's ARG values so far
  std::vector<std::string> arg_names;       // the stage's ARGs, in the order declared
  // Which of the build's target platforms (BuildRequest::platforms, in order) the stage is
  // planned for: stage indexes are per target.
  int target = 0;
};

// Adds a history entry of the build's creation time `created`; its comment is "kiln", then
// "; " and `note` when there is one.
inline void AddHistory(ImageState* state, const std::string& created, const std::string& created_by,
                       bool empty, const std::string& note = "") {
  state->config.history.push_back(
      {created, created_by, "", note.empty() ? "kiln" : "kiln; " + note, empty});
}

}  // namespace kiln::builder

#endif  // KILN_BUILDER_STAGE_RUN_H_
