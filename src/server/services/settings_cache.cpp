#include "server/services/settings_cache.hpp"

#include "common/log.hpp"
#include "server/store/settings_store.hpp"

namespace shicks::services {

SettingsCache::SettingsCache(store::DbPool& pool)
    : refresher_(pool, "settings refresh", [this](store::Connection& c) { load(c); },
                 [](const store::DbFailure& f) { log::debug("settings.refresh_failed").kv("error", f.message); }) {}

void SettingsCache::load(store::Connection& c) {
  // The counter first: the rows read after it hold at least every write it counts.
  const std::uint64_t version = store::settings_version(c);
  config::SettingsSnapshot::Values values;
  for (auto& [k, v] : store::all_settings(c)) values[std::move(k)] = std::move(v);
  std::uint64_t held = 0;
  {
    std::unique_lock lock(mu_);
    if (snapshot_.apply(std::move(values), version)) return;
    held = snapshot_.version();
  }
  log::debug("settings.stale_read").kv("version", version).kv("held", held);
}

}  // namespace shicks::services
