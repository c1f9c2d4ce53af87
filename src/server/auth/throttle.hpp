#pragma once
// Failed-login throttling per client IP, across connections and protocols (SMTP
// AUTH, POP3 USER/PASS/AUTH). Pure: the caller passes the time.
//
// After each failure the next attempt from that IP is delayed (1 s, 2 s, 4 s, ...
// capped at 8 s); after `max_failures` failures within the ban window the IP is
// banned for `ban_seconds`. A success clears the IP's record. Memory is bounded:
// at most `max_entries` IPs are tracked (plus those with an attempt in flight), the
// stalest evicted first.
//
// Under concurrency the limit holds through reservations: reserve() takes one of the
// failures the IP has left before its password is checked, and refuses while the
// failures counted plus the attempts in flight already reach max_failures. The
// attempt then either fails (counted), succeeds (forgiven: the IP's failures are
// cleared) or never happens (released, e.g. the database was away).
// A banned IP is refused whatever the password, the right one included.
// Edge values (see throttle.cpp): max_failures 0 = delays only, never a ban;
// ban 0 = no window, i.e. no throttling at all; max_entries 0 is taken as 1.
#include <chrono>
#include <cstddef>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

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
    bool busy = false;                    // banned only because of the attempts in flight
    std::chrono::milliseconds delay{0};   // wait this long before answering
    std::chrono::seconds retry_after{0};  // when banned: time left
  };

  // Before checking credentials from `ip` (no reservation: see reserve()).
  Verdict check(const std::string& ip, Clock::time_point now);
  // After the check.
  void failure(const std::string& ip, Clock::time_point now);
  void success(const std::string& ip);
  std::size_t tracked() const;

  // One reserved login attempt. Its destructor releases a reservation that was
  // neither failed() nor succeeded() (nothing is counted).
  class Attempt {
   public:
    Attempt() = default;
    Attempt(Attempt&& o) noexcept : t_(o.t_), ip_(std::move(o.ip_)) { o.t_ = nullptr; }
    Attempt& operator=(Attempt&& o) noexcept;
    Attempt(const Attempt&) = delete;
    Attempt& operator=(const Attempt&) = delete;
    ~Attempt() { release(); }
    explicit operator bool() const { return t_ != nullptr; }
    void failed(Clock::time_point now);     // counted as a failure
    void succeeded(Clock::time_point now);  // forgiven: the IP's failures are cleared
    void release();                         // not counted (the check did not happen)

   private:
    friend class Throttle;
    Attempt(Throttle* t, std::string ip) : t_(t), ip_(std::move(ip)) {}
    Throttle* t_ = nullptr;
    std::string ip_;
  };
  struct Reservation {
    Verdict verdict;  // banned: refused, nothing reserved
    Attempt attempt;  // held when not banned
  };
  // check() that also reserves the attempt when it may go ahead.
  Reservation reserve(const std::string& ip, Clock::time_point now);

  // Banned IPs (for the control socket), ordered by IP.
  struct Ban {
    std::string ip;
    unsigned failures = 0;
    std::chrono::seconds retry_after{0};  // time left, rounded up
  };
  std::vector<Ban> bans(Clock::time_point now) const;
  // Lifts the ban of `ip` and forgets its failures. False when it is not banned.
  bool unban(const std::string& ip, Clock::time_point now);

 private:
  struct Entry {
    unsigned failures = 0;
    unsigned pending = 0;  // reserved attempts in flight
    Clock::time_point last{};
    Clock::time_point banned_until{};
  };
  void evict_if_full(Clock::time_point now);
  Entry& entry_for(const std::string& ip, Clock::time_point now);
  void count_failure(Entry& e, Clock::time_point now);
  void fail_reserved(const std::string& ip, Clock::time_point now);
  void succeed_reserved(const std::string& ip, Clock::time_point now);
  void release_reserved(const std::string& ip);

  Limits limits_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, Entry> entries_;
};

}  // namespace shicks::auth
