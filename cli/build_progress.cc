#include "cli/build_progress.h"

#include <cstdio>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "cli/common.h"
#include "nlohmann/json.hpp"

namespace kiln::cli {
namespace {

using Kind = builder::BuildEvent::Kind;

std::string Header(const builder::BuildEvent& e) {
  return absl::StrCat("#", e.step, " [", e.stage, " ", e.step, "/", e.total, "] ", e.text);
}

}  // namespace

BuildProgress::BuildProgress(Mode mode) : mode_(mode) {
  if (mode_ == Mode::kLive) view_.emplace(&mu_, [this] { return Draw(); });
}

BuildProgress::~BuildProgress() { view_.reset(); }

void BuildProgress::Print(const std::string& line) { PrintProgressLine(view_, line); }

// Long by design: one case per event kind, each a few lines.
void BuildProgress::OnEvent(const builder::BuildEvent& e) {
  std::lock_guard<std::mutex> lock(mu_);
  switch (mode_) {
    case Mode::kQuiet:
      return;
    case Mode::kLive:
      OnLiveEvent(e);
      return;
    case Mode::kPlain:
      switch (e.kind) {
        case Kind::kMessage:
          Print(e.text);
          break;
        case Kind::kStepStart:
          Print(Header(e));
          break;
        case Kind::kStepCached:
          Print(absl::StrCat("#", e.step, " CACHED"));
          break;
        case Kind::kStepOutput:
          Print(absl::StrCat("#", e.step, " ", e.text));
          break;
        case Kind::kStepDone:
          Print(absl::StrFormat("#%d DONE %.1fs", e.step, e.seconds));
          break;
        case Kind::kStepCommit:
        case Kind::kStepLayer:
          break;
      }
      return;
    case Mode::kJson:
      switch (e.kind) {
        case Kind::kMessage:
          Print(ProgressJson({{"event", "message"}, {"text", e.text}}));
          break;
        case Kind::kStepStart:
          Print(ProgressJson({{"event", "start"},
                              {"step", e.step},
                              {"total", e.total},
                              {"stage", e.stage},
                              {"instruction", e.text}}));
          break;
        case Kind::kStepCached:
          Print(ProgressJson({{"event", "cached"}, {"step", e.step}}));
          break;
        case Kind::kStepOutput:
          Print(ProgressJson({{"event", "output"}, {"step", e.step}, {"line", e.text}}));
          break;
        case Kind::kStepLayer:
          Print(ProgressJson(
              {{"event", "layer"}, {"step", e.step}, {"digest", e.text}, {"size", e.bytes}}));
          break;
        case Kind::kStepDone:
          Print(ProgressJson({{"event", "done"}, {"step", e.step}, {"seconds", e.seconds}}));
          break;
        case Kind::kStepCommit:
          break;
      }
      return;
  }
}

void BuildProgress::OnLiveEvent(const builder::BuildEvent& e) {
  switch (e.kind) {
    case Kind::kMessage:
      Print(e.text);
      return;
    case Kind::kStepStart: {
      Active& a = active_[e.step];
      a.header = Header(e);
      a.started = std::chrono::steady_clock::now();
      view_->RedrawLocked();
      return;
    }
    default:
      break;
  }
  auto it = active_.find(e.step);
  if (it == active_.end()) return;
  Active& a = it->second;
  switch (e.kind) {
    case Kind::kStepOutput:
      // A step's output goes under its header, printed once the first line arrives.
      if (!a.header_shown) Print(a.header);
      a.header_shown = true;
      Print(absl::StrCat("#", e.step, " ", e.text));
      break;
    case Kind::kStepCommit:
      a.committed = e.bytes;
      break;
    case Kind::kStepCached: {
      std::string line = absl::StrCat(a.header, "  CACHED");
      active_.erase(it);  // no live line once the step is over
      Print(line);
      break;
    }
    case Kind::kStepDone: {
      std::string line = a.header_shown ? absl::StrFormat("#%d DONE %.1fs", e.step, e.seconds)
                                        : absl::StrFormat("%s  DONE %.1fs", a.header, e.seconds);
      active_.erase(it);
      Print(line);
      break;
    }
    default:
      break;
  }
}

std::vector<std::string> BuildProgress::Draw() {
  std::vector<std::string> lines;
  auto now = std::chrono::steady_clock::now();
  for (const auto& [step, a] : active_) {
    double secs = std::chrono::duration<double>(now - a.started).count();
    std::string line = absl::StrFormat("%s  %.1fs", a.header, secs);
    if (a.committed > 0) absl::StrAppend(&line, "  committing ", HumanSize(a.committed));
    lines.push_back(std::move(line));
  }
  return lines;
}

bool BuildProgress::Failed(const absl::Status& status) {
  std::lock_guard<std::mutex> lock(mu_);
  if (mode_ != Mode::kJson) return false;
  Print(ProgressJson({{"event", "error"},
                      {"message", std::string(status.message())},
                      {"code", absl::StatusCodeToString(status.code())}}));
  return true;
}

void BuildProgress::Built(const oci::Digest& digest, int steps_run, int steps_cached) {
  std::lock_guard<std::mutex> lock(mu_);
  if (mode_ == Mode::kQuiet) return;
  if (mode_ == Mode::kJson) {
    Print(ProgressJson({{"event", "built"},
                        {"digest", digest.str()},
                        {"steps_run", steps_run},
                        {"steps_cached", steps_cached}}));
    return;
  }
  Print(absl::StrCat("built ", digest.str(), " (", steps_run, " steps run, ", steps_cached,
                     " cached)"));
}

}  // namespace kiln::cli
