#include "server/relay/backoff.hpp"

#include <algorithm>

namespace shicks::relay {

RetryDecision after_temporary_failure(const RetryPolicy& p, std::uint64_t attempts, std::uint64_t age_seconds) {
  RetryDecision d;
  if (age_seconds >= p.lifetime_seconds) {
    d.give_up = true;
    return d;
  }
  std::uint64_t cap = std::max<std::uint64_t>(1, p.max_seconds);
  std::uint64_t delay = std::max<std::uint64_t>(1, p.initial_seconds);
  for (std::uint64_t i = 1; i < attempts && delay < cap; ++i) delay *= 2;  // no overflow: stops at the cap
  delay = std::min(delay, cap);
  d.delay_seconds = std::max<std::uint64_t>(1, std::min(delay, p.lifetime_seconds - age_seconds));
  return d;
}

}  // namespace shicks::relay
