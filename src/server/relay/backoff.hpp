#pragma once
// When to try a queued recipient again after a temporary failure, and when to give
// up (settings relay.retry_initial_seconds, relay.retry_max_seconds,
// relay.max_lifetime_seconds). Pure code.
#include <cstdint>

namespace shicks::relay {

struct RetryPolicy {
  std::uint64_t initial_seconds = 300;    // delay after the first failure
  std::uint64_t max_seconds = 3600;       // the delay doubles up to this
  std::uint64_t lifetime_seconds = 432000;  // bounce once a recipient has waited this long (5 days)
};

struct RetryDecision {
  bool give_up = false;            // bounce: the lifetime has passed
  std::uint64_t delay_seconds = 0;  // otherwise: try again after this long
};

// `attempts`: failed attempts so far, this one included (>= 1); `age_seconds`: how
// long the recipient has been queued. The delay is initial * 2^(attempts-1), capped
// at max_seconds, and never past the end of the lifetime, so the last attempt falls
// on it (as Postfix's maximal_queue_lifetime).
RetryDecision after_temporary_failure(const RetryPolicy& p, std::uint64_t attempts, std::uint64_t age_seconds);

}  // namespace shicks::relay
