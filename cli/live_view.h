// A region at the bottom of the terminal (stderr) that is redrawn five times a second, with
// permanent lines printed above it: the live part of kiln's progress output (image copies,
// builds). The owner keeps its state under its own mutex and hands that mutex to the view;
// the view's thread takes it before asking the owner for the region's lines.
#ifndef KILN_CLI_LIVE_VIEW_H_
#define KILN_CLI_LIVE_VIEW_H_

#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/string_view.h"
#include "nlohmann/json.hpp"

namespace kiln::cli {

class LiveView {
 public:
  // Whether stderr is a terminal that can show one (TERM set, not "dumb").
  static bool Available();

  using DrawFn = std::function<std::vector<std::string>()>;  // called with *mu held
  LiveView(std::mutex* mu, DrawFn draw);
  ~LiveView();  // stops redrawing and clears the region; call without *mu held

  // With *mu held: prints `line` above the region / redraws the region now.
  void PrintLocked(absl::string_view line);
  void RedrawLocked();

 private:
  void ClearLocked();
  void Loop();

  std::mutex* mu_;
  DrawFn draw_;
  std::condition_variable cv_;
  bool stop_ = false;
  int drawn_ = 0;  // lines of the region on screen
  int width_ = 80;
  std::thread thread_;
};

// How a verb shows progress on stderr: --progress auto (live on a terminal, else plain),
// plain or json; -q makes it quiet.
enum class ProgressMode { kQuiet, kPlain, kJson, kLive };
ProgressMode ChooseProgressMode(const std::string& flag, bool quiet);

// One line of --progress json (invalid UTF-8 replaced).
std::string ProgressJson(const nlohmann::json& j);

// Prints a permanent line on stderr: above `view`'s region when there is one (call with its
// mutex held), else as it is.
void PrintProgressLine(std::optional<LiveView>& view, absl::string_view line);

}  // namespace kiln::cli

#endif  // KILN_CLI_LIVE_VIEW_H_
