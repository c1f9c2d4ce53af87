#include "server/services/address_cache.hpp"

#include "common/log.hpp"
#include "common/strings.hpp"

namespace shicks::services {

AddressCache::AddressCache(store::DbPool& pool, std::size_t max_entries)
    : max_entries_(max_entries),
      refresher_(pool, "address cache refresh", [this](store::Connection& c) { refresh(c); },
                 [this](const store::DbFailure& f) {
                   // Unsure whether something changed: forget, and ask the database each time.
                   clear();
                   log::debug("addresses.refresh_failed").kv("error", f.message);
                 }) {}

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

}  // namespace shicks::services
