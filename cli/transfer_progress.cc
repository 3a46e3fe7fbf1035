#include "cli/transfer_progress.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>

#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "cli/common.h"

namespace kiln::cli {
namespace {

std::string Id(const oci::Digest& d) { return d.hex().substr(0, 12); }

std::string Rate(int64_t bytes, absl::Duration elapsed) {
  double secs = absl::ToDoubleSeconds(elapsed);
  return HumanSize(secs > 0 ? static_cast<uint64_t>(bytes / secs) : 0) + "/s";
}

}  // namespace

TransferProgress::TransferProgress(bool quiet)
    : quiet_(quiet), live_(!quiet && isatty(2) && std::getenv("TERM") != nullptr) {
  if (live_) thread_ = std::thread([this] { Loop(); });
}

TransferProgress::~TransferProgress() {
  if (!thread_.joinable()) return;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
    active_.clear();
    Redraw();
  }
  cv_.notify_all();
  thread_.join();
}

void TransferProgress::Attach(layers::CopyOptions& options) {
  if (quiet_) return;
  options.on_blob = [this](const layers::BlobEvent& e) { OnBlob(e); };
  if (live_) options.on_bytes = [this](const oci::Digest& d, size_t n) { OnBytes(d, n); };
}

void TransferProgress::OnBlob(const layers::BlobEvent& e) {
  const oci::Descriptor& d = e.descriptor;
  std::lock_guard<std::mutex> lock(mu_);
  if (live_) {
    // Permanent lines go above the live ones.
    if (drawn_ > 0) std::fprintf(stderr, "\x1b[%dA\x1b[J", drawn_);
    drawn_ = 0;
  }
  switch (e.kind) {
    case layers::BlobEvent::kStarted: {
      auto b = std::make_unique<Blob>();
      b->size = d.size;
      b->start = absl::Now();
      active_[d.digest.str()] = std::move(b);
      if (!live_)
        std::fprintf(stderr, "%s: copying %s\n", Id(d.digest).c_str(), HumanSize(d.size).c_str());
      break;
    }
    case layers::BlobEvent::kSkipped:
      std::fprintf(stderr, "%s: already present\n", Id(d.digest).c_str());
      break;
    case layers::BlobEvent::kCopied:
      active_.erase(d.digest.str());
      std::fprintf(stderr, "%s: done %s in %.2fs (%s)\n", Id(d.digest).c_str(),
                   HumanSize(d.size).c_str(), e.seconds,
                   Rate(d.size, absl::Seconds(e.seconds)).c_str());
      break;
  }
  if (live_) Redraw();
}

void TransferProgress::OnBytes(const oci::Digest& d, size_t n) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = active_.find(d.str());
  if (it != active_.end()) it->second->done += n;
}

void TransferProgress::Redraw() {
  if (drawn_ > 0) std::fprintf(stderr, "\x1b[%dA\x1b[J", drawn_);
  drawn_ = 0;
  absl::Time now = absl::Now();
  for (const auto& [digest, b] : active_) {
    int64_t done = std::min<int64_t>(b->done, b->size);
    int pct = b->size > 0 ? static_cast<int>(100 * done / b->size) : 100;
    int bar = pct / 5;
    std::fprintf(stderr, "%s: [%s%s] %3d%% %s/%s %s\n", digest.substr(7, 12).c_str(),
                 std::string(bar, '=').c_str(), std::string(20 - bar, ' ').c_str(), pct,
                 HumanSize(done).c_str(), HumanSize(b->size).c_str(),
                 Rate(done, now - b->start).c_str());
    ++drawn_;
  }
  std::fflush(stderr);
}

void TransferProgress::Loop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_) {
    cv_.wait_for(lock, std::chrono::milliseconds(200));
    if (!stop_) Redraw();
  }
}

}  // namespace kiln::cli
