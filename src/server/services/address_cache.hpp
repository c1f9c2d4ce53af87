#pragma once
// Recipient lookups remembered between messages: RCPT TO for an address that was
// found to be local a moment ago needs no database round trip.
//
// Only "local" answers are kept. An address that is unknown, foreign or disabled is
// always asked of the database again, so an address or user added by shicksctl (on
// this daemon or another one on the same database) receives mail at once. What can
// be stale is a removal: the admin store bumps the `addresses` change counter when
// a user is deleted or disabled or an address deleted; this daemon forgets
// everything at once after its own control-socket changes, and within `interval`
// (the counter is polled) after another daemon's. Mail accepted for a user deleted
// in that window fails at the end of DATA with a temporary error, never silently.
#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "server/services/refresher.hpp"
#include "server/store/db_pool.hpp"
#include "server/store/mail_store.hpp"

namespace shicks::services {

class AddressCache {
 public:
  explicit AddressCache(store::DbPool& pool, std::size_t max_entries = 50000);

  // The remembered answer for `address` (any case), if any.
  std::optional<store::AddressTargets> find(const std::string& address) const;
  // The epoch to pass to remember(): taken before the database is asked, so that an
  // answer read before a change is not kept after it.
  std::uint64_t epoch() const;
  // Keeps a "local" answer (others are ignored) unless the cache was cleared since `epoch`.
  void remember(const std::string& address, const store::AddressTargets& t, std::uint64_t epoch);
  // Forgets everything (after a change made through this daemon's control socket).
  void clear();

  // Reads the change counter; forgets everything when it moved. Throws DbError.
  void refresh(store::Connection& c);
  // Polls every `interval` until stop().
  void start(asio::io_context& io, std::chrono::milliseconds interval) { refresher_.start(io, interval); }
  void stop() { refresher_.stop(); }

 private:
  std::size_t max_entries_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, store::AddressTargets> map_;
  std::uint64_t epoch_ = 0;
  std::optional<std::uint64_t> version_;  // the counter's value when last read
  Refresher refresher_;
};

}  // namespace shicks::services
