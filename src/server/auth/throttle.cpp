#include "server/auth/throttle.hpp"

#include <algorithm>
#include <utility>
#include <vector>

// Policy, precisely:
//   - An IP's record holds the failures counted in the current window, the time of
//     the last counted failure (`last`) and, when banned, the ban's end.
//   - The window: a failure more than `ban` after the previous counted failure
//     starts a new count (failures = 1). So does the first failure after a ban ends.
//   - Delay: with n counted failures the next attempt waits min(8 s, 2^(n-1) s),
//     i.e. 1, 2, 4, 8, 8, ... seconds, whatever the time since the last failure
//     (a fixed penalty per attempt, not a "not before" time).
//   - Ban: the failure that makes n reach max_failures sets banned_until = now + ban.
//     While banned, check() says banned with retry_after = time left, rounded up to
//     whole seconds (at least 1 s); further failures are not counted and do not
//     extend the ban. When it ends the record is stale and forgotten.
//     max_failures == 0 disables banning (delays still apply).
//   - success() forgets the IP.
//   - Reservations (reserve()): an IP's record also counts its attempts in flight
//     (`pending`). reserve() refuses (banned, busy, retry_after 1 s) while
//     max_failures > 0 and failures + pending >= max_failures, so that no more
//     passwords are checked than the failures the IP has left, however many
//     connections race. Otherwise it answers as check() does and pending goes up
//     by one. The attempt then ends in exactly one of: failed() (pending down,
//     counted as failure() counts), succeeded() (pending down, the failures are
//     cleared; a running ban stays) or release() (pending down, nothing counted).
//     A record with pending > 0 is never stale and never evicted.
//   - unban() ends a running ban and forgets the failures (pending attempts stay).
//   - Memory: at most max_entries records (0 is taken as 1). When a new IP must be
//     recorded and the table is full, stale records (window over, no ban running)
//     are dropped; if that frees less than 1/8 of the table, the least recently
//     failed records are dropped down to 7/8 of max_entries. Each O(n) sweep is thus
//     followed by at least n/8 insertions without one: amortised O(1).
//     (With many attacking addresses, e.g. an IPv6 prefix, old records including
//     running bans can be pushed out; callers may key IPv6 clients by prefix.)
//   - Times passed out of order (threads racing between reading the clock and
//     taking the lock) are tolerated: a negative elapsed time counts as zero.

namespace shicks::auth {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr unsigned kMaxDelayShift = 3;  // 2^3 s = 8 s cap

milliseconds delay_for(unsigned failures) {
  if (failures == 0) return milliseconds(0);
  const unsigned shift = std::min(failures - 1, kMaxDelayShift);
  return milliseconds(1000LL << shift);
}

Throttle::Clock::duration elapsed(Throttle::Clock::time_point from, Throttle::Clock::time_point to) {
  return to > from ? to - from : Throttle::Clock::duration::zero();
}

// Erases the `drop` records with the oldest `last` among those without an attempt in
// flight (selection, not a full sort).
template <class Map>
void drop_least_recent(Map& entries, std::size_t drop) {
  if (drop == 0) return;
  std::vector<std::pair<Throttle::Clock::time_point, const std::string*>> order;
  order.reserve(entries.size());
  for (const auto& [ip, e] : entries)
    if (e.pending == 0) order.emplace_back(e.last, &ip);  // an attempt in flight keeps its record
  if (order.empty()) return;
  drop = std::min(drop, order.size());
  std::nth_element(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(drop - 1), order.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<std::string> victims;
  victims.reserve(drop);
  for (std::size_t i = 0; i < drop; ++i) victims.push_back(*order[i].second);
  for (const auto& ip : victims) entries.erase(ip);
}

}  // namespace

void Throttle::set_limits(Limits limits) {
  std::lock_guard lock(mu_);
  limits_ = limits;
  const std::size_t cap = std::max<std::size_t>(1, limits_.max_entries);
  // No clock here: drop the least recently failed down to the new bound.
  if (entries_.size() > cap) drop_least_recent(entries_, entries_.size() - cap);
}

namespace {
// What a banned client is told to wait: the ban's time left, rounded up, at least 1 s.
seconds ban_left(Throttle::Clock::time_point banned_until, Throttle::Clock::time_point now) {
  return std::max(seconds(1), std::chrono::ceil<seconds>(banned_until - now));
}
}  // namespace

Throttle::Verdict Throttle::check(const std::string& ip, Clock::time_point now) {
  std::lock_guard lock(mu_);
  Verdict v;
  auto it = entries_.find(ip);
  if (it == entries_.end()) return v;
  const Entry& e = it->second;
  if (e.banned_until > now) {
    v.banned = true;
    v.retry_after = ban_left(e.banned_until, now);
    return v;
  }
  const bool window_over = e.failures == 0 || elapsed(e.last, now) >= limits_.ban;
  if (window_over) {
    if (e.pending == 0) entries_.erase(it);  // stale: the window is over (and any ban has ended)
    return v;
  }
  v.delay = delay_for(e.failures);
  return v;
}

Throttle::Reservation Throttle::reserve(const std::string& ip, Clock::time_point now) {
  std::lock_guard lock(mu_);
  Reservation r;
  auto it = entries_.find(ip);
  if (it != entries_.end()) {
    Entry& e = it->second;
    if (e.banned_until > now) {
      r.verdict.banned = true;
      r.verdict.retry_after = ban_left(e.banned_until, now);
      return r;
    }
    if (e.failures > 0 && elapsed(e.last, now) >= limits_.ban) e.failures = 0;  // the window is over
  } else {
    evict_if_full(now);
    it = entries_.emplace(ip, Entry{}).first;
  }
  Entry& e = it->second;
  if (limits_.max_failures > 0 && std::uint64_t(e.failures) + e.pending >= limits_.max_failures) {
    // The attempts in flight may use up what is left: this one waits for their outcome.
    r.verdict.banned = true;
    r.verdict.busy = true;
    r.verdict.retry_after = seconds(1);
    return r;
  }
  ++e.pending;
  r.verdict.delay = delay_for(e.failures);
  r.attempt = Attempt(this, ip);
  return r;
}

void Throttle::count_failure(Entry& e, Clock::time_point now) {
  if (e.banned_until > now) return;  // already banned: the ban runs its course
  if (e.failures > 0 && elapsed(e.last, now) >= limits_.ban) e.failures = 0;  // new window
  if (e.failures < ~0u) ++e.failures;
  e.last = std::max(e.last, now);
  if (limits_.max_failures > 0 && e.failures >= limits_.max_failures) e.banned_until = e.last + limits_.ban;
}

void Throttle::fail_reserved(const std::string& ip, Clock::time_point now) {
  std::lock_guard lock(mu_);
  Entry& e = entry_for(ip, now);  // missing only after set_limits() trimmed it: counted anew
  if (e.pending > 0) --e.pending;
  count_failure(e, now);
}

void Throttle::succeed_reserved(const std::string& ip, Clock::time_point now) {
  std::lock_guard lock(mu_);
  auto it = entries_.find(ip);
  if (it == entries_.end()) return;
  Entry& e = it->second;
  if (e.pending > 0) --e.pending;
  if (e.banned_until > now) return;  // banned meanwhile (only when the limits changed): the ban stands
  e.failures = 0;
  if (e.pending == 0) entries_.erase(it);
}

void Throttle::release_reserved(const std::string& ip) {
  std::lock_guard lock(mu_);
  auto it = entries_.find(ip);
  if (it == entries_.end()) return;
  Entry& e = it->second;
  if (e.pending > 0) --e.pending;
  if (e.pending == 0 && e.failures == 0 && e.banned_until == Clock::time_point{}) entries_.erase(it);
}

std::vector<Throttle::Ban> Throttle::bans(Clock::time_point now) const {
  std::vector<Ban> out;
  {
    std::lock_guard lock(mu_);
    for (const auto& [ip, e] : entries_) {
      if (e.banned_until <= now) continue;
      out.push_back({ip, e.failures, ban_left(e.banned_until, now)});
    }
  }
  std::sort(out.begin(), out.end(), [](const Ban& a, const Ban& b) { return a.ip < b.ip; });
  return out;
}

bool Throttle::unban(const std::string& ip, Clock::time_point now) {
  std::lock_guard lock(mu_);
  auto it = entries_.find(ip);
  if (it == entries_.end() || it->second.banned_until <= now) return false;
  Entry& e = it->second;
  if (e.pending == 0) {
    entries_.erase(it);
  } else {
    e.failures = 0;
    e.banned_until = Clock::time_point{};
  }
  return true;
}

Throttle::Attempt& Throttle::Attempt::operator=(Attempt&& o) noexcept {
  if (this != &o) {
    release();
    t_ = o.t_;
    ip_ = std::move(o.ip_);
    o.t_ = nullptr;
  }
  return *this;
}

void Throttle::Attempt::failed(Clock::time_point now) {
  if (!t_) return;
  Throttle* t = std::exchange(t_, nullptr);
  t->fail_reserved(ip_, now);
}

void Throttle::Attempt::succeeded(Clock::time_point now) {
  if (!t_) return;
  Throttle* t = std::exchange(t_, nullptr);
  t->succeed_reserved(ip_, now);
}

void Throttle::Attempt::release() {
  if (!t_) return;
  Throttle* t = std::exchange(t_, nullptr);
  t->release_reserved(ip_);
}

void Throttle::failure(const std::string& ip, Clock::time_point now) {
  std::lock_guard lock(mu_);
  count_failure(entry_for(ip, now), now);
}

void Throttle::success(const std::string& ip) {
  std::lock_guard lock(mu_);
  entries_.erase(ip);
}

std::size_t Throttle::tracked() const {
  std::lock_guard lock(mu_);
  return entries_.size();
}

// Called with mu_ held: the entry of `ip`, inserted (after an eviction) when missing.
Throttle::Entry& Throttle::entry_for(const std::string& ip, Clock::time_point now) {
  auto it = entries_.find(ip);
  if (it == entries_.end()) {
    evict_if_full(now);
    it = entries_.emplace(ip, Entry{}).first;
  }
  return it->second;
}

// Called with mu_ held, before a new IP is inserted.
void Throttle::evict_if_full(Clock::time_point now) {
  const std::size_t cap = std::max<std::size_t>(1, limits_.max_entries);
  if (entries_.size() < cap) return;

  // 1. Stale records: window over and no ban running.
  for (auto it = entries_.begin(); it != entries_.end();) {
    const Entry& e = it->second;
    if (e.pending == 0 && e.banned_until <= now && elapsed(e.last, now) >= limits_.ban)
      it = entries_.erase(it);
    else
      ++it;
  }
  // 2. Still (nearly) full: drop the least recently failed down to 7/8 of the cap,
  //    leaving room for the new record and for cap/8 more before the next sweep.
  const std::size_t low_water = cap - std::max<std::size_t>(1, cap / 8);
  if (entries_.size() <= low_water) return;
  drop_least_recent(entries_, entries_.size() - low_water);
}

}  // namespace shicks::auth
