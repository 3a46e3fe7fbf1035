#include "registry/retry.h"

#include <algorithm>
#include <random>

#include "absl/strings/numbers.h"
#include "absl/time/clock.h"

namespace kiln::registry {

bool IsTransientStatus(long status) {
  return status == 408 || status == 429 || (status >= 500 && status <= 599);
}

absl::Duration RetryPolicy::Delay(int attempt, const HttpResponse* response) const {
  absl::Duration d = initial_backoff * (1 << std::clamp(attempt - 1, 0, 16));
  d = std::min(d, max_backoff);
  thread_local std::mt19937 rng(std::random_device{}());
  d = d * std::uniform_real_distribution<double>(0.5, 1.5)(rng);
  int secs = 0;
  if (response != nullptr && absl::SimpleAtoi(response->Header("retry-after"), &secs) &&
      secs >= 0) {
    d = std::max(d, absl::Seconds(std::min(secs, 60)));
  }
  return d;
}

void RetryPolicy::Wait(int attempt, const HttpResponse* response) const {
  absl::Duration d = Delay(attempt, response);
  if (sleep) {
    sleep(d);
  } else {
    absl::SleepFor(d);
  }
}

absl::StatusOr<std::unique_ptr<HttpResponse>> RetryPolicy::Send(
    const SendFn& send, bool retry_connection_errors) const {
  for (int attempt = 1;; ++attempt) {
    absl::StatusOr<std::unique_ptr<HttpResponse>> r = send();
    bool transient = r.ok() ? IsTransientStatus((*r)->status())
                            : retry_connection_errors && absl::IsUnavailable(r.status());
    if (!transient || attempt >= max_attempts) return r;
    Wait(attempt, r.ok() ? r->get() : nullptr);
  }
}

bool RetryBudget::Again(const absl::Status& s) {
  if (!absl::IsUnavailable(s) || ++failures_ >= policy_.max_attempts) return false;
  policy_.Wait(failures_, nullptr);
  return true;
}

}  // namespace kiln::registry
