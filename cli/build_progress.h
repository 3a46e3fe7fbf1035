// How `kiln build` shows its progress on stderr. Plain: one line per event, prefixed by the
// step number ("#3 [build 3/9] RUN make", "#3 <output>", "#3 DONE 1.2s"). JSON: one object
// per line ({"event": "start"|"cached"|"output"|"layer"|"done"|"message"|"built", ...}).
// Live (a terminal, --progress auto): finished steps and RUN output scroll above a status line
// per step under way (stages run concurrently) with its elapsed time and the bytes of the
// layer being committed. Quiet: nothing. Thread-safe.
#ifndef KILN_CLI_BUILD_PROGRESS_H_
#define KILN_CLI_BUILD_PROGRESS_H_

#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "builder/build_event.h"
#include "cli/live_view.h"
#include "oci/digest.h"

namespace kiln::cli {

class BuildProgress {
 public:
  using Mode = ProgressMode;
  static Mode Choose(const std::string& flag, bool quiet) {
    return ChooseProgressMode(flag, quiet);
  }

  explicit BuildProgress(Mode mode);
  ~BuildProgress();  // clears the live line

  void OnEvent(const builder::BuildEvent& e);
  // The last word: the image made and how many steps ran.
  void Built(const oci::Digest& digest, int steps_run, int steps_cached);
  // The build failed: in JSON mode, the stream's last event says why
  // ({"event": "error", "message": …, "code": …}) and this returns true; else it shows
  // nothing (the caller prints the error) and returns false.
  bool Failed(const absl::Status& status);

 private:
  std::vector<std::string> Draw();  // with mu_ held
  void Print(const std::string& line);
  void OnLiveEvent(const builder::BuildEvent& e);

  Mode mode_;
  std::mutex mu_;
  // The steps under way (live mode), by number: stages run concurrently.
  struct Active {
    std::string header;  // "#3 [build 3/9] RUN make"
    bool header_shown = false;
    uint64_t committed = 0;
    std::chrono::steady_clock::time_point started;
  };
  std::map<int, Active> active_;
  std::optional<LiveView> view_;
};

}  // namespace kiln::cli

#endif  // KILN_CLI_BUILD_PROGRESS_H_
