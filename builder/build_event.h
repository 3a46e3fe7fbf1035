// What a build reports as it goes, for progress displays: its own header so that they need
// not see the executor's request (and through it the sandbox and the registry).
#ifndef KILN_BUILDER_BUILD_EVENT_H_
#define KILN_BUILDER_BUILD_EVENT_H_

#include <cstdint>
#include <functional>
#include <string>

namespace kiln::builder {

// What a build reports as it goes. Steps are numbered over the whole build, from 1.
struct BuildEvent {
  enum class Kind {
    kMessage,     // text: a warning or what the build does outside steps (pulling, writing)
    kStepStart,   // step, total, stage, text (the instruction)
    kStepCached,  // step: restored from the cache
    kStepOutput,  // step, text: one line a RUN printed (without the newline)
    kStepCommit,  // step, bytes: the step's layer has `bytes` of tar written so far
    kStepLayer,   // step, text (layer digest), bytes (compressed size): the layer is stored
    kStepDone,    // step, seconds
  };
  Kind kind = Kind::kMessage;
  int step = 0;
  int total = 0;
  std::string stage;
  std::string text;
  uint64_t bytes = 0;
  double seconds = 0;
};
// Called from several threads at once (stages run concurrently, RUN output is read on its
// own thread): the function must be thread-safe. A stage's own events come in order.
using ProgressFn = std::function<void(const BuildEvent& event)>;

}  // namespace kiln::builder

#endif  // KILN_BUILDER_BUILD_EVENT_H_
