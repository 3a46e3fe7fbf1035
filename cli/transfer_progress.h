// Progress of an image copy on stderr. On a terminal: a live line per blob in flight (bytes,
// percentage, rate), redrawn five times a second, and a permanent line as each finishes.
// Otherwise: a plain line when a blob starts and when it is done. Nothing when quiet.
#ifndef KILN_CLI_TRANSFER_PROGRESS_H_
#define KILN_CLI_TRANSFER_PROGRESS_H_

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "cli/live_view.h"
#include "layers/image_transfer.h"

namespace kiln::cli {

class TransferProgress {
 public:
  explicit TransferProgress(bool quiet);
  ~TransferProgress();  // clears the live lines
  // Hooks this object into `options` (which must not outlive it).
  void Attach(layers::CopyOptions& options);

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

  bool quiet_;
  std::mutex mu_;
  std::map<std::string, std::unique_ptr<Blob>> active_;  // by digest
  std::optional<LiveView> view_;                         // on a terminal
};

}  // namespace kiln::cli

#endif  // KILN_CLI_TRANSFER_PROGRESS_H_
