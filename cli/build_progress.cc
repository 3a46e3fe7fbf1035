#include "cli/build_progress.h"

#include <cstdio>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "cli/common.h"
#include "nlohmann/json.hpp"

namespace kiln::cli {
namespace {

using Kind = builder::BuildEvent::Kind;

std::string Dump(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string Header(const builder::BuildEvent& e) {
  return absl::StrCat("#", e.step, " [", e.stage, " ", e.step, "/", e.total, "] ", e.text);
}

}  // namespace

BuildProgress::Mode BuildProgress::Choose(const std::string& flag, bool quiet) {
  if (quiet) return Mode::kQuiet;
  if (flag == "json") return Mode::kJson;
  if (flag == "plain") return Mode::kPlain;
  return LiveView::Available() ? Mode::kLive : Mode::kPlain;
}

BuildProgress::BuildProgress(Mode mode) : mode_(mode) {
  if (mode_ == Mode::kLive) view_.emplace(&mu_, [this] { return Draw(); });
}

BuildProgress::~BuildProgress() { view_.reset(); }

void BuildProgress::Print(const std::string& line) {
  if (view_) {
    view_->PrintLocked(line);
  } else {
    std::fprintf(stderr, "%s\n", line.c_str());
  }
}

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
          Print(Dump({{"event", "message"}, {"text", e.text}}));
          break;
        case Kind::kStepStart:
          Print(Dump({{"event", "start"},
                      {"step", e.step},
                      {"total", e.total},
                      {"stage", e.stage},
                      {"instruction", e.text}}));
          break;
        case Kind::kStepCached:
          Print(Dump({{"event", "cached"}, {"step", e.step}}));
          break;
        case Kind::kStepOutput:
          Print(Dump({{"event", "output"}, {"step", e.step}, {"line", e.text}}));
          break;
        case Kind::kStepLayer:
          Print(
              Dump({{"event", "layer"}, {"step", e.step}, {"digest", e.text}, {"size", e.bytes}}));
          break;
        case Kind::kStepDone:
          Print(Dump({{"event", "done"}, {"step", e.step}, {"seconds", e.seconds}}));
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
      break;
    case Kind::kStepStart:
      step_ = e.step;
      header_ = Header(e);
      header_shown_ = false;
      committed_ = 0;
      started_ = std::chrono::steady_clock::now();
      view_->RedrawLocked();
      break;
    case Kind::kStepOutput:
      // A step's output goes under its header, printed once the first line arrives.
      if (!header_shown_) Print(header_);
      header_shown_ = true;
      Print(absl::StrCat("#", e.step, " ", e.text));
      break;
    case Kind::kStepCommit:
      committed_ = e.bytes;
      break;
    case Kind::kStepLayer:
      break;
    case Kind::kStepCached:
      step_ = 0;  // no live line once the step is over
      Print(absl::StrCat(header_, "  CACHED"));
      break;
    case Kind::kStepDone:
      step_ = 0;
      Print(header_shown_ ? absl::StrFormat("#%d DONE %.1fs", e.step, e.seconds)
                          : absl::StrFormat("%s  DONE %.1fs", header_, e.seconds));
      break;
  }
}

std::vector<std::string> BuildProgress::Draw() {
  if (step_ == 0) return {};
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
  std::string line = absl::StrFormat("%s  %.1fs", header_, secs);
  if (committed_ > 0) absl::StrAppend(&line, "  committing ", HumanSize(committed_));
  return {line};
}

void BuildProgress::Built(const oci::Digest& digest, int steps_run, int steps_cached) {
  std::lock_guard<std::mutex> lock(mu_);
  if (mode_ == Mode::kQuiet) return;
  if (mode_ == Mode::kJson) {
    Print(Dump({{"event", "built"},
                {"digest", digest.str()},
                {"steps_run", steps_run},
                {"steps_cached", steps_cached}}));
    return;
  }
  Print(absl::StrCat("built ", digest.str(), " (", steps_run, " steps run, ", steps_cached,
                     " cached)"));
}

}  // namespace kiln::cli
