#include <catch2/catch.hpp>

#include <vector>

#include "server/store/restart_policy.hpp"

using namespace shicks::store;
using namespace std::chrono_literals;
using ms = std::chrono::milliseconds;

TEST_CASE("managed database restarts: doubling back-off, then giving up at the fifth failure", "[store]") {
  RestartPolicy p;
  auto t = RestartPolicy::Clock::time_point{} + 1000s;
  p.started(t);
  std::vector<ms> delays;
  // Killed after an hour up, then every attempt fails at once.
  t += 3600s;
  for (int i = 0; i < 4; ++i) {
    auto d = p.failed(t);
    REQUIRE(d);
    delays.push_back(*d);
    t += *d + 100ms;
  }
  CHECK(delays == std::vector<ms>{500ms, 1000ms, 2000ms, 4000ms});
  CHECK(p.failures() == 4);
  CHECK_FALSE(p.failed(t));
  CHECK(p.failures() == 5);
}

TEST_CASE("managed database restarts: a restart that runs for a minute starts a new series", "[store]") {
  RestartPolicy p;
  auto t = RestartPolicy::Clock::time_point{} + 1000s;
  p.started(t);
  for (int day = 0; day < 10; ++day) {
    t += 24h;
    auto d = p.failed(t);
    REQUIRE(d);
    CHECK(*d == 500ms);  // an isolated crash: the quick first restart every time
    t += *d;
    p.started(t);
  }
}

TEST_CASE("managed database restarts: an instance that keeps dying soon after starting is given up", "[store]") {
  RestartPolicy p;
  auto t = RestartPolicy::Clock::time_point{} + 1000s;
  p.started(t);
  t += 10min;
  unsigned restarts = 0;
  for (;;) {
    auto d = p.failed(t);
    if (!d) break;
    ++restarts;
    t += *d;
    p.started(t);  // it comes up ...
    t += 20s;      // ... and dies again before it has run for a minute
  }
  CHECK(restarts == 4);
}

TEST_CASE("managed database restarts: the delay is capped", "[store]") {
  RestartPolicy p(RestartPolicy::Limits{ms(500), ms(3000), 10, ms(60000)});
  auto t = RestartPolicy::Clock::time_point{} + 1000s;
  std::vector<ms> delays;
  while (auto d = p.failed(t)) {
    delays.push_back(*d);
    t += *d;
  }
  CHECK(delays == std::vector<ms>{500ms, 1000ms, 2000ms, 3000ms, 3000ms, 3000ms, 3000ms, 3000ms, 3000ms});
}
