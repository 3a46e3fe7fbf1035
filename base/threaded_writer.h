// A Writer that hands its bytes, in chunks, to a worker thread which writes them to the
// downstream Writer, so producing and consuming a stream (e.g. tar + hashing on one core,
// compression on the other) overlap. Memory is bounded: at most `max_chunks` chunks of
// `chunk_size` bytes are in flight. Write/Close are called from one thread.
#ifndef KILN_BASE_THREADED_WRITER_H_
#define KILN_BASE_THREADED_WRITER_H_

#include <deque>
#include <string>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "base/io.h"

namespace kiln {

class ThreadedWriter : public Writer {
 public:
  ThreadedWriter(Writer* downstream, size_t chunk_size = 1 << 20, size_t max_chunks = 4);
  // Joins the worker; call Close() first to learn the outcome.
  ~ThreadedWriter() override;

  absl::Status Write(absl::string_view data) override;
  // Sends what is buffered, waits for the worker, and returns the first error downstream
  // reported (Close() of the downstream writer is not called).
  absl::Status Close() override;

 private:
  void Run();
  absl::Status Push(std::string chunk, bool last);

  Writer* downstream_;
  size_t chunk_size_;
  size_t max_chunks_;
  std::string pending_;
  absl::Mutex mu_;
  std::deque<std::string> queue_ ABSL_GUARDED_BY(mu_);
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status error_ ABSL_GUARDED_BY(mu_);
  bool finished_ = false;
  std::thread worker_;
};

}  // namespace kiln

#endif  // KILN_BASE_THREADED_WRITER_H_
