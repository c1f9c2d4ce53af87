#include <catch2/catch.hpp>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "server/auth/throttle.hpp"

using shicks::auth::Throttle;
using namespace std::chrono_literals;

namespace {

// Fake time: an arbitrary origin plus a number of milliseconds.
Throttle::Clock::time_point at(std::chrono::milliseconds t) { return Throttle::Clock::time_point{} + 1h + t; }
Throttle::Clock::time_point at(std::chrono::seconds t) { return at(std::chrono::milliseconds(t)); }

Throttle::Limits limits(unsigned max_failures, std::chrono::seconds ban, std::size_t max_entries) {
  Throttle::Limits l;
  l.max_failures = max_failures;
  l.ban = ban;
  l.max_entries = max_entries;
  return l;
}

}  // namespace

TEST_CASE("an IP without failures passes at once", "[auth][throttle]") {
  Throttle t(Throttle::Limits{});
  auto v = t.check("192.0.2.1", at(0s));
  CHECK_FALSE(v.banned);
  CHECK(v.delay == 0ms);
  CHECK(v.retry_after == 0s);
  CHECK(t.tracked() == 0);
}

TEST_CASE("failures delay the next attempt 1, 2, 4, 8, 8 seconds", "[auth][throttle]") {
  Throttle t(limits(100, 300s, 100));
  const std::string ip = "192.0.2.1";
  const std::chrono::milliseconds expected[] = {1000ms, 2000ms, 4000ms, 8000ms, 8000ms, 8000ms};
  int second = 0;
  for (auto want : expected) {
    t.failure(ip, at(std::chrono::seconds(second)));
    ++second;
    auto v = t.check(ip, at(std::chrono::seconds(second)));
    CHECK_FALSE(v.banned);
    CHECK(v.delay == want);
  }
  CHECK(t.tracked() == 1);
  // Other addresses are not affected.
  CHECK(t.check("192.0.2.2", at(10s)).delay == 0ms);
  CHECK(t.check("2001:db8::1", at(10s)).delay == 0ms);
}

TEST_CASE("max_failures failures within the window ban the IP until the ban ends", "[auth][throttle]") {
  Throttle t(limits(5, 300s, 100));
  const std::string ip = "198.51.100.7";
  for (int i = 0; i < 4; ++i) t.failure(ip, at(std::chrono::seconds(i)));
  CHECK_FALSE(t.check(ip, at(4s)).banned);
  t.failure(ip, at(4s));  // the fifth: banned until 304 s

  auto v = t.check(ip, at(4s));
  CHECK(v.banned);
  CHECK(v.retry_after == 300s);
  v = t.check(ip, at(104s));
  CHECK(v.banned);
  CHECK(v.retry_after == 200s);

  // Failures during the ban neither count nor extend it.
  t.failure(ip, at(200s));
  v = t.check(ip, at(303500ms));
  CHECK(v.banned);
  CHECK(v.retry_after == 1s);  // rounded up
  v = t.check(ip, at(303999ms));
  CHECK(v.banned);
  CHECK(v.retry_after == 1s);

  // Over: forgotten, and the count starts again.
  v = t.check(ip, at(304s));
  CHECK_FALSE(v.banned);
  CHECK(v.delay == 0ms);
  CHECK(t.tracked() == 0);
  t.failure(ip, at(305s));
  v = t.check(ip, at(306s));
  CHECK_FALSE(v.banned);
  CHECK(v.delay == 1000ms);
}

TEST_CASE("the first failure after a ban starts a new count", "[auth][throttle]") {
  Throttle t(limits(2, 60s, 100));
  const std::string ip = "203.0.113.9";
  t.failure(ip, at(0s));
  t.failure(ip, at(1s));
  CHECK(t.check(ip, at(1s)).banned);
  // No check() in between: failure() itself sees that the ban and window are over.
  t.failure(ip, at(100s));
  auto v = t.check(ip, at(100s));
  CHECK_FALSE(v.banned);
  CHECK(v.delay == 1000ms);
}

TEST_CASE("a failure older than the window resets the count", "[auth][throttle]") {
  Throttle t(limits(5, 300s, 100));
  const std::string ip = "192.0.2.50";
  t.failure(ip, at(0s));
  t.failure(ip, at(1s));
  t.failure(ip, at(2s));
  CHECK(t.check(ip, at(3s)).delay == 4000ms);
  CHECK(t.check(ip, at(301s)).delay == 4000ms);  // 299 s after the last failure
  // 300 s after the last failure: the window is over.
  CHECK(t.check(ip, at(302s)).delay == 0ms);
  CHECK(t.tracked() == 0);

  // The same through failure() alone.
  t.failure(ip, at(400s));
  t.failure(ip, at(401s));
  t.failure(ip, at(1000s));
  CHECK(t.check(ip, at(1000s)).delay == 1000ms);
}

TEST_CASE("failures just inside the window keep counting up to a ban", "[auth][throttle]") {
  Throttle t(limits(5, 300s, 100));
  const std::string ip = "192.0.2.51";
  for (int i = 0; i < 5; ++i) t.failure(ip, at(std::chrono::seconds(299 * i)));
  auto v = t.check(ip, at(1196s));
  CHECK(v.banned);
  CHECK(v.retry_after == 300s);
}

TEST_CASE("a success clears the IP's record", "[auth][throttle]") {
  Throttle t(limits(5, 300s, 100));
  const std::string ip = "192.0.2.60";
  for (int i = 0; i < 4; ++i) t.failure(ip, at(std::chrono::seconds(i)));
  CHECK(t.check(ip, at(4s)).delay == 8000ms);
  t.success(ip);
  CHECK(t.tracked() == 0);
  CHECK(t.check(ip, at(5s)).delay == 0ms);
  // Counting starts from zero: four more failures do not ban.
  for (int i = 0; i < 4; ++i) t.failure(ip, at(std::chrono::seconds(10 + i)));
  CHECK_FALSE(t.check(ip, at(14s)).banned);
  t.success("192.0.2.61");  // unknown IP: nothing happens
  CHECK(t.tracked() == 1);
}

TEST_CASE("max_failures 0 never bans but still delays", "[auth][throttle]") {
  Throttle t(limits(0, 300s, 100));
  for (int i = 0; i < 50; ++i) t.failure("192.0.2.70", at(std::chrono::seconds(i)));
  auto v = t.check("192.0.2.70", at(50s));
  CHECK_FALSE(v.banned);
  CHECK(v.delay == 8000ms);
}

TEST_CASE("the table never holds more than max_entries IPs", "[auth][throttle]") {
  Throttle t(limits(5, 300s, 8));
  for (int i = 0; i < 1000; ++i) {
    const std::string ip = "10.0." + std::to_string(i / 256) + "." + std::to_string(i % 256);
    t.failure(ip, at(std::chrono::milliseconds(i)));
    REQUIRE(t.tracked() <= 8);
    // The IP that just failed is always tracked.
    REQUIRE(t.check(ip, at(std::chrono::milliseconds(i))).delay == 1000ms);
  }
  // The newest survive, the oldest are gone.
  CHECK(t.check("10.0.3.231", at(1s)).delay == 1000ms);  // i = 999
  CHECK(t.check("10.0.0.0", at(1s)).delay == 0ms);
}

TEST_CASE("eviction drops stale records first, then the least recently failed", "[auth][throttle]") {
  Throttle t(limits(5, 300s, 4));
  // A full table of records whose window is over by t = 1000 s.
  for (int i = 0; i < 4; ++i) t.failure("old" + std::to_string(i), at(std::chrono::seconds(i)));
  CHECK(t.tracked() == 4);
  t.failure("new", at(1000s));
  CHECK(t.tracked() == 1);

  // Now a full table of live records: the least recently failed go.
  Throttle u(limits(5, 300s, 4));
  u.failure("a", at(1s));
  u.failure("b", at(2s));
  u.failure("c", at(3s));
  u.failure("d", at(4s));
  u.failure("a", at(5s));  // "a" failed again: now "b" is the least recent
  u.failure("e", at(6s));
  CHECK(u.tracked() <= 4);
  CHECK(u.check("b", at(6s)).delay == 0ms);     // evicted
  CHECK(u.check("a", at(6s)).delay == 2000ms);  // kept, with both failures
  CHECK(u.check("e", at(6s)).delay == 1000ms);
}

TEST_CASE("repeated failures of a tracked IP never evict others", "[auth][throttle]") {
  Throttle t(limits(1000, 300s, 3));
  t.failure("a", at(0s));
  t.failure("b", at(1s));
  t.failure("c", at(2s));
  for (int i = 0; i < 20; ++i) t.failure("c", at(std::chrono::seconds(3 + i)));
  CHECK(t.tracked() == 3);
  CHECK(t.check("a", at(30s)).delay == 1000ms);
}

TEST_CASE("shrinking max_entries trims the table", "[auth][throttle]") {
  Throttle t(limits(5, 300s, 100));
  for (int i = 0; i < 50; ++i) t.failure("ip" + std::to_string(i), at(std::chrono::seconds(i)));
  CHECK(t.tracked() == 50);
  t.set_limits(limits(5, 300s, 10));
  CHECK(t.tracked() == 10);
  CHECK(t.check("ip49", at(50s)).delay == 1000ms);
  CHECK(t.check("ip40", at(50s)).delay == 1000ms);
  CHECK(t.check("ip39", at(50s)).delay == 0ms);
  // New limits apply to the next failure.
  t.set_limits(limits(1, 60s, 10));
  t.failure("ip49", at(51s));
  CHECK(t.check("ip49", at(51s)).banned);
}

TEST_CASE("times passed out of order are tolerated", "[auth][throttle]") {
  Throttle t(limits(3, 300s, 100));
  t.failure("x", at(10s));
  t.failure("x", at(9s));  // another thread read the clock earlier
  auto v = t.check("x", at(8s));
  CHECK_FALSE(v.banned);
  CHECK(v.delay == 2000ms);
  t.failure("x", at(7s));
  v = t.check("x", at(7s));
  CHECK(v.banned);
  CHECK(v.retry_after >= 300s);
}

TEST_CASE("the throttle is safe to share between threads", "[auth][throttle]") {
  Throttle t(limits(5, 300s, 64));
  std::vector<std::thread> threads;
  for (int n = 0; n < 4; ++n) {
    threads.emplace_back([&t, n] {
      for (int i = 0; i < 2000; ++i) {
        const std::string ip = "10." + std::to_string(n) + "." + std::to_string(i % 100);
        const auto now = at(std::chrono::milliseconds(i));
        (void)t.check(ip, now);
        t.failure(ip, now);
        if (i % 7 == 0) t.success(ip);
        (void)t.tracked();
      }
    });
  }
  for (auto& th : threads) th.join();
  CHECK(t.tracked() <= 64);
}

TEST_CASE("reservations hold the limit however many attempts race", "[auth][throttle]") {
  Throttle t(limits(5, 300s, 100));
  const std::string ip = "192.0.2.80";
  // 20 attempts arrive before any password is checked: only 5 may go ahead.
  std::vector<Throttle::Attempt> going;
  int refused = 0;
  for (int i = 0; i < 20; ++i) {
    auto r = t.reserve(ip, at(0s));
    if (r.verdict.banned) {
      CHECK(r.verdict.busy);
      CHECK(r.verdict.retry_after == 1s);
      CHECK_FALSE(r.attempt);
      ++refused;
      continue;
    }
    CHECK(r.attempt);
    CHECK(r.verdict.delay == 0ms);
    going.push_back(std::move(r.attempt));
  }
  CHECK(going.size() == 5);
  CHECK(refused == 15);
  CHECK(t.bans(at(0s)).empty());  // not banned yet: nothing has failed
  // All five fail: the fifth failure bans the IP.
  for (auto& a : going) a.failed(at(1s));
  auto r = t.reserve(ip, at(2s));
  CHECK(r.verdict.banned);
  CHECK_FALSE(r.verdict.busy);
  CHECK(r.verdict.retry_after == 299s);
  auto bans = t.bans(at(2s));
  REQUIRE(bans.size() == 1);
  CHECK(bans[0].ip == ip);
  CHECK(bans[0].failures == 5);
  CHECK(bans[0].retry_after == 299s);
}

TEST_CASE("a reserved attempt that succeeds is forgiven, one not checked is released", "[auth][throttle]") {
  Throttle t(limits(3, 300s, 100));
  const std::string ip = "192.0.2.81";
  {
    auto a = t.reserve(ip, at(0s));
    a.attempt.failed(at(0s));
  }
  auto b = t.reserve(ip, at(1s));
  CHECK(b.verdict.delay == 1000ms);  // one failure counted
  auto c = t.reserve(ip, at(1s));
  CHECK_FALSE(c.verdict.banned);
  // 1 failure + 2 in flight reach the limit of 3.
  CHECK(t.reserve(ip, at(1s)).verdict.busy);
  b.attempt.succeeded(at(2s));  // forgiven: the failure goes, c stays in flight
  CHECK(t.tracked() == 1);
  auto d = t.reserve(ip, at(2s));
  CHECK(d.verdict.delay == 0ms);
  CHECK_FALSE(d.verdict.banned);
  d.attempt.release();  // e.g. the database did not answer: nothing counted
  {
    auto e = t.reserve(ip, at(2s));
    CHECK_FALSE(e.verdict.banned);
  }  // dropped without an outcome: released too
  c.attempt.release();
  CHECK(t.tracked() == 0);
  // Released and forgiven attempts left no count behind: three failures to a ban.
  for (int i = 0; i < 3; ++i) {
    auto r = t.reserve(ip, at(10s));
    REQUIRE_FALSE(r.verdict.banned);
    r.attempt.failed(at(10s));
  }
  CHECK(t.reserve(ip, at(11s)).verdict.banned);
  CHECK(t.check(ip, at(11s)).banned);
}

TEST_CASE("a ban refuses the reservation of the right password too, until unban", "[auth][throttle]") {
  Throttle t(limits(2, 60s, 100));
  const std::string ip = "2001:db8::5";
  t.failure(ip, at(0s));
  t.failure(ip, at(1s));
  CHECK(t.reserve(ip, at(2s)).verdict.banned);
  CHECK_FALSE(t.unban("192.0.2.99", at(2s)));  // not banned
  CHECK(t.unban(ip, at(2s)));
  CHECK_FALSE(t.unban(ip, at(2s)));  // no longer banned
  CHECK(t.bans(at(2s)).empty());
  auto r = t.reserve(ip, at(3s));
  CHECK_FALSE(r.verdict.banned);
  CHECK(r.verdict.delay == 0ms);  // the failures went with the ban
  r.attempt.succeeded(at(3s));
  CHECK(t.tracked() == 0);
  // A ban that has run out is not listed and cannot be lifted.
  t.failure(ip, at(10s));
  t.failure(ip, at(10s));
  CHECK(t.bans(at(69s)).size() == 1);
  CHECK(t.bans(at(70s)).empty());
  CHECK_FALSE(t.unban(ip, at(70s)));
}

TEST_CASE("a record with an attempt in flight is never evicted", "[auth][throttle]") {
  Throttle t(limits(5, 300s, 2));
  auto held = t.reserve("a", at(0s));
  for (int i = 0; i < 10; ++i) t.failure("x" + std::to_string(i), at(std::chrono::seconds(1 + i)));
  held.attempt.failed(at(20s));
  CHECK(t.check("a", at(20s)).delay == 1000ms);  // its record survived with the failure counted
}
