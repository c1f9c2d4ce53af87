#pragma once
// Failed-login throttling per client IP, across connections and protocols (SMTP
// AUTH, POP3 USER/PASS/AUTH). Pure: the caller passes the time.
//
// After each failure the next attempt from that IP is delayed (1 s, 2 s, 4 s, ...
// capped at 8 s); after `max_failures` failures within the ban window the IP is
// banned for `ban_seconds`. A success clears the IP's record. Memory is bounded:
// at most `max_entries` IPs are tracked, the stalest evicted first.
// Edge values (see throttle.cpp): max_failures 0 = delays only, never a ban;
// ban 0 = no window, i.e. no throttling at all; max_entries 0 is taken as 1.
#include <chrono>
#include <cstddef>
#include <mutex>
#include <string>
#include <unordered_map>

namespace shicks::auth {

class Throttle {
 public:
  using Clock = std::chrono::steady_clock;
  struct Limits {
    unsigned max_failures = 5;
    std::chrono::seconds ban{300};
    std::size_t max_entries = 100000;
  };

  explicit Throttle(Limits limits) : limits_(limits) {}
  void set_limits(Limits limits);

  struct Verdict {
    bool banned = false;                  // refuse without checking the password
    std::chrono::milliseconds delay{0};   // wait this long before answering
    std::chrono::seconds retry_after{0};  // when banned: time left
  };

  // Before checking credentials from `ip`.
  Verdict check(const std::string& ip, Clock::time_point now);
  // After the check.
  void failure(const std::string& ip, Clock::time_point now);
  void success(const std::string& ip);
  std::size_t tracked() const;

 private:
  struct Entry {
    unsigned failures = 0;
    Clock::time_point last{};
    Clock::time_point banned_until{};
  };
  void evict_if_full(Clock::time_point now);

  Limits limits_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, Entry> entries_;
};

}  // namespace shicks::auth
