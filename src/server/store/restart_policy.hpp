#pragma once
// When the managed mariadbd fails, how long to wait before starting it again, and
// when to stop trying (managed_db.hpp). Pure: the caller passes the clock.
//
// A failure is the database exiting, or a restart attempt that did not bring it up.
// Failures in a row are counted; the count starts over once a started instance has
// run for `stable` (an isolated crash a day costs one quick restart each time). The
// delay before attempt n of a series is first_delay * 2^(n-1), capped at max_delay:
// 0.5 s, 1 s, 2 s, 4 s with the defaults. At the max_failures-th failure in a row the
// policy gives up: shicksd then exits non-zero so that its service manager restarts
// it as a whole (contrib/shicksd.service: Restart=on-failure).
#include <chrono>
#include <optional>

namespace shicks::store {

class RestartPolicy {
 public:
  using Clock = std::chrono::steady_clock;
  using ms = std::chrono::milliseconds;

  struct Limits {
    ms first_delay{500};
    ms max_delay{10'000};
    unsigned max_failures = 5;
    ms stable{60'000};
  };

  RestartPolicy() = default;
  explicit RestartPolicy(Limits l) : limits_(l) {}

  // A (re)started instance answers.
  void started(Clock::time_point now) {
    up_ = true;
    up_since_ = now;
  }

  // The instance exited, or an attempt to start it failed. Returns the delay before
  // the next attempt, or nothing: give up.
  std::optional<ms> failed(Clock::time_point now) {
    if (up_ && now - up_since_ >= limits_.stable) failures_ = 0;
    up_ = false;
    ++failures_;
    if (failures_ >= limits_.max_failures) return std::nullopt;
    ms delay = limits_.first_delay;
    for (unsigned i = 1; i < failures_ && delay < limits_.max_delay; ++i) delay *= 2;
    return delay < limits_.max_delay ? delay : limits_.max_delay;
  }

  // Failures in the current series.
  unsigned failures() const { return failures_; }
  const Limits& limits() const { return limits_; }

 private:
  Limits limits_;
  unsigned failures_ = 0;
  bool up_ = false;  // started() since the last failure
  Clock::time_point up_since_{};
};

}  // namespace shicks::store
