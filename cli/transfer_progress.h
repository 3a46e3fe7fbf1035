// Progress of an image copy (push, pull, copy) on stderr. Live (a terminal, --progress auto):
// a line per blob in flight (bytes, percentage, rate), redrawn five times a second, and a
// permanent line as each finishes. Plain: a line when a blob starts and when it is done. JSON:
// one object per line, {"event": "blob", "state": "started"|"skipped"|"copied", "digest",
// "size", "mediaType"[, "seconds"]}, {"event": "message", "text"}, then {"event": "done",
// "digest", "text"} or {"event": "error", "message", "code"}. Nothing when quiet.
#ifndef KILN_CLI_TRANSFER_PROGRESS_H_
#define KILN_CLI_TRANSFER_PROGRESS_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/status/status.h"
#include "absl/time/time.h"
#include "cli/live_view.h"
#include "layers/image_transfer.h"
#include "transfer/transports.h"

namespace kiln::cli {

// --progress (auto, plain, json) of a verb that copies images.
void AddTransferProgressFlag(CLI::App* cmd, std::string* progress);

class TransferProgress {
 public:
  explicit TransferProgress(ProgressMode mode);
  ~TransferProgress();  // clears the live lines
  // Hooks this object into `options` and `transport` (which must not outlive it): blob
  // events, and where images are read from.
  void Attach(layers::CopyOptions& options, transfer::TransportOptions* transport = nullptr);
  void Message(const std::string& text);
  // The copy's result: `text` ("pulled busybox:latest") and the top manifest's digest.
  void Done(const std::string& text, const oci::Digest& digest);
  // Runs `body`; a failure ends a JSON stream with an error event (`*reported` then set, so
  // the caller does not print it again).
  absl::Status Run(const std::function<absl::Status()>& body, bool* reported);

 private:
  struct Blob {
    int64_t size = 0;
    std::atomic<int64_t> done{0};
    absl::Time start;
  };
  void OnBlob(const layers::BlobEvent& e);
  void OnBytes(const oci::Digest& d, size_t n);
  std::vector<std::string> Draw();      // with mu_ held
  void Print(const std::string& line);  // with mu_ held

  ProgressMode mode_;
  std::mutex mu_;
  std::map<std::string, std::unique_ptr<Blob>> active_;  // by digest
  std::optional<LiveView> view_;                         // on a terminal
};

}  // namespace kiln::cli

#endif  // KILN_CLI_TRANSFER_PROGRESS_H_
