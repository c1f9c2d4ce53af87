#include "server/daemon/address_cache.hpp"

#include <asio/post.hpp>
#include <asio/redirect_error.hpp>
#include <asio/use_awaitable.hpp>

#include "common/log.hpp"
#include "common/strings.hpp"
#include "server/net/spawn.hpp"

namespace shicks::daemon {

std::optional<store::AddressTargets> AddressCache::find(const std::string& address) const {
  std::string key = to_lower_ascii(address);
  std::lock_guard lock(mu_);
  auto it = map_.find(key);
  if (it == map_.end()) return std::nullopt;
  return it->second;
}

std::uint64_t AddressCache::epoch() const {
  std::lock_guard lock(mu_);
  return epoch_;
}

void AddressCache::remember(const std::string& address, const store::AddressTargets& t, std::uint64_t epoch) {
  if (t.kind != store::AddressTargets::local) return;
  std::string key = to_lower_ascii(address);
  std::lock_guard lock(mu_);
  if (epoch != epoch_) return;  // cleared since the database was asked
  if (map_.size() >= max_entries_) map_.clear();
  map_[std::move(key)] = t;
}

void AddressCache::clear() {
  std::lock_guard lock(mu_);
  map_.clear();
  ++epoch_;
}

void AddressCache::refresh(store::Connection& c) {
  std::uint64_t version = store::addresses_version(c);
  std::lock_guard lock(mu_);
  if (version_ && *version_ == version) return;
  if (version_) log::debug("addresses.changed").kv("version", version).kv("forgotten", map_.size());
  version_ = version;
  map_.clear();
  ++epoch_;
}

void AddressCache::start(asio::io_context& io, std::chrono::milliseconds interval) {
  strand_.emplace(asio::make_strand(io));
  timer_.emplace(*strand_);
  net::spawn(*strand_, refresh_loop(interval), "address cache refresh");
}

void AddressCache::stop() {
  if (!strand_) return;
  asio::post(*strand_, [this] {
    stopped_ = true;
    timer_->cancel();
  });
}

namespace {
struct RefreshJob {
  AddressCache* cache;
  void operator()(store::Connection& c) const { cache->refresh(c); }
};
}  // namespace

asio::awaitable<void> AddressCache::refresh_loop(std::chrono::milliseconds interval) {
  while (!stopped_) {
    timer_->expires_after(interval);
    std::error_code ec;
    co_await timer_->async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (ec || stopped_) break;
    RefreshJob job{this};
    auto r = co_await store::async_run(pool_, std::move(job), asio::use_awaitable);
    if (!r) {
      // Unsure whether something changed: forget, and ask the database each time.
      clear();
      log::debug("addresses.refresh_failed").kv("error", r.error().message);
    }
  }
}

}  // namespace shicks::daemon
