#include "base/threaded_writer.h"

namespace kiln {

ThreadedWriter::ThreadedWriter(Writer* downstream, size_t chunk_size, size_t max_chunks)
    : downstream_(downstream), chunk_size_(chunk_size), max_chunks_(max_chunks) {
  pending_.reserve(chunk_size_);
  worker_ = std::thread([this] { Run(); });
}

ThreadedWriter::~ThreadedWriter() {
  if (!finished_) (void)Close();
}

void ThreadedWriter::Run() {
  while (true) {
    std::string chunk;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](ThreadedWriter* w)
               ABSL_NO_THREAD_SAFETY_ANALYSIS { return !w->queue_.empty() || w->closed_; },
          this));
      if (queue_.empty()) return;  // closed and drained
      chunk = std::move(queue_.front());
      queue_.pop_front();
    }
    absl::Status s = downstream_->Write(chunk);
    if (!s.ok()) {
      absl::MutexLock lock(&mu_);
      error_ = s;
      queue_.clear();
      closed_ = true;
      return;
    }
  }
}

absl::Status ThreadedWriter::Push(std::string chunk, bool last) {
  absl::MutexLock lock(&mu_);
  if (!chunk.empty()) {
    mu_.Await(absl::Condition(
        +[](ThreadedWriter* w) ABSL_NO_THREAD_SAFETY_ANALYSIS {
          return w->queue_.size() < w->max_chunks_ || w->closed_;
        },
        this));
    if (!error_.ok()) return error_;
    if (closed_) return absl::FailedPreconditionError("write after close");
    queue_.push_back(std::move(chunk));
  }
  if (last) closed_ = true;
  return error_;
}

absl::Status ThreadedWriter::Write(absl::string_view data) {
  if (finished_) return absl::FailedPreconditionError("write after close");
  while (!data.empty()) {
    size_t n = std::min(data.size(), chunk_size_ - pending_.size());
    pending_.append(data.data(), n);
    data.remove_prefix(n);
    if (pending_.size() == chunk_size_) {
      std::string full;
      full.reserve(chunk_size_);
      full.swap(pending_);
      absl::Status s = Push(std::move(full), false);
      if (!s.ok()) return s;
    }
  }
  return absl::OkStatus();
}

absl::Status ThreadedWriter::Close() {
  if (finished_) {
    absl::MutexLock lock(&mu_);
    return error_;
  }
  finished_ = true;
  (void)Push(std::move(pending_), true);
  worker_.join();
  absl::MutexLock lock(&mu_);
  return error_;
}

}  // namespace kiln
