#include <catch2/catch.hpp>

#include "server/relay/backoff.hpp"

using namespace shicks::relay;

TEST_CASE("retry schedule: doubling from the initial delay up to the cap", "[relay]") {
  RetryPolicy p{300, 3600, 432000};
  std::vector<std::uint64_t> delays;
  for (std::uint64_t n = 1; n <= 7; ++n) delays.push_back(after_temporary_failure(p, n, 0).delay_seconds);
  CHECK(delays == std::vector<std::uint64_t>{300, 600, 1200, 2400, 3600, 3600, 3600});
  CHECK_FALSE(after_temporary_failure(p, 1, 0).give_up);
  // Huge attempt counts do not overflow.
  CHECK(after_temporary_failure(p, 1u << 30, 10).delay_seconds == 3600);
}

TEST_CASE("retry schedule: the lifetime ends the retries", "[relay]") {
  RetryPolicy p{300, 3600, 432000};
  CHECK(after_temporary_failure(p, 3, 432000).give_up);
  CHECK(after_temporary_failure(p, 3, 500000).give_up);
  // The last retry falls on the end of the lifetime, not after it.
  auto d = after_temporary_failure(p, 9, 432000 - 100);
  CHECK_FALSE(d.give_up);
  CHECK(d.delay_seconds == 100);
}

TEST_CASE("retry schedule: degenerate settings", "[relay]") {
  CHECK(after_temporary_failure(RetryPolicy{0, 0, 60}, 1, 0).delay_seconds == 1);
  CHECK(after_temporary_failure(RetryPolicy{10, 5, 60}, 1, 0).delay_seconds == 5);  // cap below initial
  CHECK(after_temporary_failure(RetryPolicy{1, 2, 60}, 4, 0).delay_seconds == 2);
}
