#include "cli/live_view.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace kiln::cli {

bool LiveView::Available() {
  const char* term = std::getenv("TERM");
  return isatty(2) && term != nullptr && term[0] != '\0' && std::strcmp(term, "dumb") != 0;
}

LiveView::LiveView(std::mutex* mu, DrawFn draw) : mu_(mu), draw_(std::move(draw)) {
  struct winsize ws = {};
  if (ioctl(2, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) width_ = ws.ws_col;
  thread_ = std::thread([this] { Loop(); });
}

LiveView::~LiveView() {
  {
    std::lock_guard<std::mutex> lock(*mu_);
    stop_ = true;
    ClearLocked();
    std::fflush(stderr);
  }
  cv_.notify_all();
  thread_.join();
}

void LiveView::ClearLocked() {
  if (drawn_ > 0) std::fprintf(stderr, "\x1b[%dA\x1b[J", drawn_);
  drawn_ = 0;
}

void LiveView::PrintLocked(absl::string_view line) {
  ClearLocked();
  std::fprintf(stderr, "%.*s\n", static_cast<int>(line.size()), line.data());
  RedrawLocked();
}

void LiveView::RedrawLocked() {
  ClearLocked();
  if (stop_) return;
  for (const std::string& line : draw_()) {
    // One screen row each, or the cursor arithmetic above breaks.
    std::fprintf(stderr, "%.*s\n", std::max(1, width_ - 1), line.c_str());
    ++drawn_;
  }
  std::fflush(stderr);
}

void LiveView::Loop() {
  std::unique_lock<std::mutex> lock(*mu_);
  while (!stop_) {
    cv_.wait_for(lock, std::chrono::milliseconds(200));
    if (!stop_) RedrawLocked();
  }
}

std::string ProgressJson(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

ProgressMode ChooseProgressMode(const std::string& flag, bool quiet) {
  if (quiet) return ProgressMode::kQuiet;
  if (flag == "json") return ProgressMode::kJson;
  if (flag == "plain") return ProgressMode::kPlain;
  return LiveView::Available() ? ProgressMode::kLive : ProgressMode::kPlain;
}

void PrintProgressLine(std::optional<LiveView>& view, absl::string_view line) {
  if (view) {
    view->PrintLocked(line);
  } else {
    std::fprintf(stderr, "%.*s\n", static_cast<int>(line.size()), line.data());
  }
}

}  // namespace kiln::cli
