#include "cli/transfer_progress.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "cli/common.h"
#include "nlohmann/json.hpp"

namespace kiln::cli {
namespace {

std::string Id(const oci::Digest& d) { return d.hex().substr(0, 12); }

std::string Rate(int64_t bytes, absl::Duration elapsed) {
  double secs = absl::ToDoubleSeconds(elapsed);
  return HumanSize(secs > 0 ? static_cast<uint64_t>(bytes / secs) : 0) + "/s";
}

}  // namespace

void AddTransferProgressFlag(CLI::App* cmd, std::string* progress) {
  cmd->add_option("--progress", *progress,
                  "auto (live on a terminal, else plain), plain, or json (one event per line)")
      ->check(CLI::IsMember({"auto", "plain", "json"}));
}

TransferProgress::TransferProgress(ProgressMode mode) : mode_(mode) {
  if (mode_ == ProgressMode::kLive) view_.emplace(&mu_, [this] { return Draw(); });
}

TransferProgress::~TransferProgress() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    active_.clear();
  }
  view_.reset();
}

void TransferProgress::Attach(layers::CopyOptions& options, transfer::TransportOptions* transport) {
  if (transport != nullptr) transport->notify = [this](const std::string& t) { Message(t); };
  if (mode_ == ProgressMode::kQuiet) return;
  options.on_blob = [this](const layers::BlobEvent& e) { OnBlob(e); };
  if (view_) options.on_bytes = [this](const oci::Digest& d, size_t n) { OnBytes(d, n); };
}

void TransferProgress::Print(const std::string& line) { PrintProgressLine(view_, line); }

void TransferProgress::Message(const std::string& text) {
  std::lock_guard<std::mutex> lock(mu_);
  if (mode_ == ProgressMode::kQuiet) return;
  if (mode_ == ProgressMode::kJson) {
    Print(ProgressJson({{"event", "message"}, {"text", text}}));
  } else {
    Print(text);
  }
}

void TransferProgress::Done(const std::string& text, const oci::Digest& digest) {
  std::lock_guard<std::mutex> lock(mu_);
  if (mode_ == ProgressMode::kQuiet) return;
  if (mode_ == ProgressMode::kJson) {
    Print(ProgressJson({{"event", "done"}, {"digest", digest.str()}, {"text", text}}));
  } else {
    Print(text);
  }
}

absl::Status TransferProgress::Run(const std::function<absl::Status()>& body, bool* reported) {
  absl::Status s = body();
  if (s.ok() || mode_ != ProgressMode::kJson) return s;
  std::lock_guard<std::mutex> lock(mu_);
  Print(ProgressJson({{"event", "error"},
                      {"message", std::string(s.message())},
                      {"code", absl::StatusCodeToString(s.code())}}));
  *reported = true;
  return s;
}

void TransferProgress::OnBlob(const layers::BlobEvent& e) {
  const oci::Descriptor& d = e.descriptor;
  std::lock_guard<std::mutex> lock(mu_);
  if (mode_ == ProgressMode::kJson) {
    nlohmann::json j = {{"event", "blob"},
                        {"digest", d.digest.str()},
                        {"size", d.size},
                        {"mediaType", d.media_type}};
    switch (e.kind) {
      case layers::BlobEvent::kStarted:
        j["state"] = "started";
        break;
      case layers::BlobEvent::kSkipped:
        j["state"] = "skipped";
        break;
      case layers::BlobEvent::kCopied:
        j["state"] = "copied";
        j["seconds"] = e.seconds;
        break;
    }
    Print(ProgressJson(j));
    return;
  }
  switch (e.kind) {
    case layers::BlobEvent::kStarted: {
      auto b = std::make_unique<Blob>();
      b->size = d.size;
      b->start = absl::Now();
      active_[d.digest.str()] = std::move(b);
      if (!view_) Print(absl::StrCat(Id(d.digest), ": copying ", HumanSize(d.size)));
      break;
    }
    case layers::BlobEvent::kSkipped:
      Print(absl::StrCat(Id(d.digest), ": already present"));
      break;
    case layers::BlobEvent::kCopied:
      active_.erase(d.digest.str());
      Print(absl::StrFormat("%s: done %s in %.2fs (%s)", Id(d.digest), HumanSize(d.size), e.seconds,
                            Rate(d.size, absl::Seconds(e.seconds))));
      break;
  }
  if (view_) view_->RedrawLocked();
}

void TransferProgress::OnBytes(const oci::Digest& d, size_t n) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = active_.find(d.str());
  if (it != active_.end()) it->second->done += n;
}

std::vector<std::string> TransferProgress::Draw() {
  std::vector<std::string> lines;
  absl::Time now = absl::Now();
  for (const auto& [digest, b] : active_) {
    int64_t done = std::min<int64_t>(b->done, b->size);
    int pct = b->size > 0 ? static_cast<int>(100 * done / b->size) : 100;
    int bar = pct / 5;
    lines.push_back(absl::StrFormat("%s: [%s%s] %3d%% %s/%s %s", digest.substr(7, 12),
                                    std::string(bar, '='), std::string(20 - bar, ' '), pct,
                                    HumanSize(done), HumanSize(b->size),
                                    Rate(done, now - b->start)));
  }
  return lines;
}

}  // namespace kiln::cli
