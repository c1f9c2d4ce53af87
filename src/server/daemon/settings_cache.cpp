#include "server/daemon/settings_cache.hpp"

#include "common/log.hpp"
#include "common/strings.hpp"
#include "server/config/runtime_settings.hpp"
#include "server/store/settings_store.hpp"

namespace shicks::daemon {

SettingsCache::SettingsCache(store::DbPool& pool)
    : refresher_(pool, "settings refresh", [this](store::Connection& c) { load(c); },
                 [](const store::DbFailure& f) { log::debug("settings.refresh_failed").kv("error", f.message); }) {}

void SettingsCache::load(store::Connection& c) {
  auto all = store::all_settings(c);
  std::unique_lock lock(mu_);
  values_.clear();
  for (auto& [k, v] : all) values_[k] = v;
}

std::string SettingsCache::get(const std::string& name) const {
  {
    std::shared_lock lock(mu_);
    if (auto it = values_.find(name); it != values_.end()) return it->second;
  }
  if (const auto* s = config::find_runtime_setting(name)) return std::string(s->default_value);
  return {};
}

unsigned SettingsCache::number(const std::string& name) const {
  auto v = parse_u64(get(name));
  if (!v) {
    const auto* s = config::find_runtime_setting(name);
    v = s ? parse_u64(s->default_value) : std::nullopt;
  }
  return v ? unsigned(*v) : 0;
}

void SettingsCache::set_local(const std::string& name, const std::string& value) {
  std::unique_lock lock(mu_);
  values_[name] = value;
}

}  // namespace shicks::daemon
