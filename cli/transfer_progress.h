// Progress of an image copy on stderr. On a terminal: a live line per blob in flight (bytes,
// percentage, rate), redrawn five times a second, and a permanent line as each finishes.
// Otherwise: a plain line when a blob starts and when it is done. Nothing when quiet.
#ifndef KILN_CLI_TRANSFER_PROGRESS_H_
#define KILN_CLI_TRANSFER_PROGRESS_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "absl/time/time.h"
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
  void Redraw();  // with mu_ held
  void Loop();

  bool quiet_;
  bool live_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::map<std::string, std::unique_ptr<Blob>> active_;  // by digest
  int drawn_ = 0;                                        // live lines on screen
  std::thread thread_;
};

}  // namespace kiln::cli

#endif  // KILN_CLI_TRANSFER_PROGRESS_H_
