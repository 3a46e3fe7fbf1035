// The one retry policy of registry traffic: connection failures (Unavailable), 408, 429 and
// 5xx are transient and sent again, a bounded number of times, after an exponential backoff
// with jitter that honours a response's Retry-After (up to a minute). Requests that resume
// (blob reads and chunked uploads) count their failures in a RetryBudget of the same policy.
#ifndef KILN_REGISTRY_RETRY_H_
#define KILN_REGISTRY_RETRY_H_

#include <functional>
#include <memory>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "registry/http.h"

namespace kiln::registry {

bool IsTransientStatus(long status);

struct RetryPolicy {
  // Attempts per request (the first included) before a transient failure is reported.
  int max_attempts = 6;
  absl::Duration initial_backoff = absl::Milliseconds(200);
  absl::Duration max_backoff = absl::Seconds(10);
  // How to wait; unset: absl::SleepFor. Tests pass one that records the waits.
  std::function<void(absl::Duration)> sleep;

  // The wait after failed attempt `attempt` (1-based), given the response if there was one.
  absl::Duration Delay(int attempt, const HttpResponse* response) const;
  // Waits Delay(attempt, response).
  void Wait(int attempt, const HttpResponse* response) const;

  using SendFn = std::function<absl::StatusOr<std::unique_ptr<HttpResponse>>()>;
  // Calls `send` until its response's status is not transient, or its error is not a
  // connection failure (Unavailable) it may retry (`retry_connection_errors`), or the attempts
  // are spent; returns that last result as it came.
  absl::StatusOr<std::unique_ptr<HttpResponse>> Send(const SendFn& send,
                                                     bool retry_connection_errors) const;
};

// The transient failures one resuming operation has met.
class RetryBudget {
 public:
  explicit RetryBudget(const RetryPolicy& policy) : policy_(policy) {}
  // True, after the policy's wait, if `s` is transient (Unavailable) and attempts are left.
  bool Again(const absl::Status& s);

 private:
  const RetryPolicy& policy_;
  int failures_ = 0;
};

}  // namespace kiln::registry

#endif  // KILN_REGISTRY_RETRY_H_
