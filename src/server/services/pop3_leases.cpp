#include "server/services/pop3_leases.hpp"

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <random>
#include <set>
#include <utility>

#include <asio/experimental/as_tuple.hpp>
#include <asio/post.hpp>
#include <asio/use_awaitable.hpp>
#include <fmt/core.h>

#include "common/instance.hpp"
#include "common/log.hpp"
#include "server/services/settings_cache.hpp"
#include "server/net/spawn.hpp"
#include "server/store/pop3_store.hpp"

namespace shicks::services {
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

namespace {

// When nothing is due the loop still wakes this often: a setting changed to a
// shorter lease, or the first lease of an idle daemon, is seen soon.
constexpr auto kTick = 500ms;
// After a failed renewal: the leases have two thirds of their life left.
constexpr auto kRetry = 1s;

struct RenewJob {
  std::string prefix;
  unsigned lease_seconds;
  std::vector<store::HeldLease> operator()(store::Connection& c) const {
    return store::renew_leases(c, prefix, lease_seconds);
  }
};

struct ReleaseJob {
  std::vector<store::HeldLease> leases;
  bool operator()(store::Connection& c) const {
    for (const auto& l : leases) store::release_lease(c, l.user_id, l.owner);
    return true;
  }
};

}  // namespace

Pop3Leases::Pop3Leases(asio::io_context& io, store::DbPool& pool, const SettingsCache& settings,
                       const config::Config& cfg)
    : pool_(pool),
      settings_(settings),
      instance_(instance_prefix(cfg)),
      run_prefix_(instance_ + std::to_string(::getpid()) + "/"),
      strand_(asio::make_strand(io)),
      timer_(strand_) {}

Pop3Leases::~Pop3Leases() = default;

std::string Pop3Leases::instance_prefix(const config::Config& cfg) {
  return shicks::instance_prefix(cfg.server.control_socket);
}

std::uint64_t Pop3Leases::void_earlier_runs(store::Connection& c) const { return store::release_leases(c, instance_); }

// The owner column is VARCHAR(128): the prefix (at most 74) + pid + "/" + 24 of the
// session id + "/" + 8 stays below it.
std::string Pop3Leases::new_owner(const std::string& sid) const {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return fmt::format("{}{}/{:08x}", run_prefix_, sid.substr(0, 24), std::uint32_t(rng()));
}

unsigned Pop3Leases::lease_seconds() const {
  return std::max(kMinLeaseSeconds, settings_.get(config::setting::pop3_lease_seconds));
}

Pop3Leases::Id Pop3Leases::add(std::uint64_t user_id, std::string owner, asio::any_io_executor ex,
                               std::function<void()> lost) {
  std::lock_guard lock(mu_);
  Id id = next_++;
  entries_.emplace(id, Entry{user_id, std::move(owner), std::move(ex), std::move(lost)});
  return id;
}

void Pop3Leases::held(Id id) {
  std::lock_guard lock(mu_);
  if (auto it = entries_.find(id); it != entries_.end()) it->second.state = State::held;
}

void Pop3Leases::closing(Id id) {
  std::lock_guard lock(mu_);
  if (auto it = entries_.find(id); it != entries_.end()) it->second.state = State::closing;
}

void Pop3Leases::remove(Id id) {
  std::lock_guard lock(mu_);
  entries_.erase(id);
}

std::size_t Pop3Leases::registered() const {
  std::lock_guard lock(mu_);
  return entries_.size();
}

void Pop3Leases::start() { net::spawn(strand_, run(), "pop3.leases"); }

void Pop3Leases::stop() {
  asio::post(strand_, [this] {
    stopping_ = true;
    timer_.cancel();
  });
}

asio::awaitable<void> Pop3Leases::run() {
  // The first renewal comes a third of a lease after the first session took its
  // lease (at most kTick later), then every third of a lease.
  auto last = Clock::now();
  bool idle = true;
  while (!stopping_) {
    const unsigned seconds = lease_seconds();
    const auto period = std::chrono::milliseconds(seconds * 1000 / 3);
    auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(kTick);
    if (registered() == 0) {
      idle = true;
    } else if (idle) {
      idle = false;  // the leases now registered were taken within the last kTick
      last = Clock::now();
    } else if (Clock::now() - last >= period) {
      const auto started = Clock::now();
      bool ok = false;
      co_await renew_once(seconds, ok);
      if (ok) last = started;
      else wait = std::chrono::duration_cast<std::chrono::milliseconds>(kRetry);
    }
    if (stopping_) break;
    if (!idle && wait > period) wait = period;
    timer_.expires_after(wait);
    co_await timer_.async_wait(asio::experimental::as_tuple(asio::use_awaitable));
  }
}

asio::awaitable<void> Pop3Leases::renew_once(unsigned lease_seconds, bool& ok) {
  // Only leases held before the renewal starts can be missing from its answer
  // because they were lost; one taken meanwhile may not be listed yet.
  std::vector<Id> held_before;
  {
    std::lock_guard lock(mu_);
    for (const auto& [id, e] : entries_)
      if (e.state == State::held) held_before.push_back(id);
  }
  RenewJob job{run_prefix_, lease_seconds};
  auto r = co_await store::async_run(pool_, std::move(job), asio::use_awaitable);
  if (!r) {
    log::warn("pop3.lease_renew_failed").kv("leases", held_before.size()).kv("error", r.error().message);
    co_return;
  }
  ok = true;
  std::set<std::pair<std::uint64_t, std::string>> rows;
  for (auto& l : *r) rows.emplace(l.user_id, l.owner);
  std::vector<Id> lost;
  std::vector<store::HeldLease> orphans;
  {
    std::lock_guard lock(mu_);
    std::set<std::string> owners;
    for (const auto& [id, e] : entries_) owners.insert(e.owner);
    for (Id id : held_before) {
      auto it = entries_.find(id);
      if (it == entries_.end() || it->second.state != State::held) continue;
      if (!rows.count({it->second.user_id, it->second.owner})) lost.push_back(id);
    }
    // A row of this run without a session: its release failed. It must not be
    // kept alive; it goes now.
    for (const auto& [user_id, owner] : rows)
      if (!owners.count(owner)) orphans.push_back({user_id, owner});
  }
  for (Id id : lost) notify_lost(id);
  if (!orphans.empty()) {
    const std::size_t n = orphans.size();
    ReleaseJob release{std::move(orphans)};
    auto rr = co_await store::async_run(pool_, std::move(release), asio::use_awaitable);
    if (!rr) log::warn("pop3.lease_release_failed").kv("leases", n).kv("error", rr.error().message);
    else log::info("pop3.leases_released").kv("reason", "session-gone").kv("leases", n);
  }
}

void Pop3Leases::notify_lost(Id id) {
  std::lock_guard lock(mu_);
  auto it = entries_.find(id);
  if (it == entries_.end()) return;
  asio::post(it->second.ex, [this, id] {
    std::function<void()> fn;
    {
      std::lock_guard inner(mu_);
      auto e = entries_.find(id);
      if (e == entries_.end() || e->second.state != State::held) return;
      fn = e->second.lost;
    }
    fn();
  });
}

}  // namespace shicks::services
