#include "server/daemon/settings_cache.hpp"

#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/redirect_error.hpp>
#include <asio/use_awaitable.hpp>

#include "server/net/spawn.hpp"

#include "common/log.hpp"
#include "common/strings.hpp"
#include "server/config/runtime_settings.hpp"
#include "server/store/settings_store.hpp"

namespace shicks::daemon {

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

void SettingsCache::start(asio::io_context& io, std::chrono::seconds interval) {
  strand_.emplace(asio::make_strand(io));
  timer_.emplace(*strand_);
  net::spawn(*strand_, refresh_loop(interval), "settings refresh");
}

void SettingsCache::stop() {
  if (!strand_) return;
  asio::post(*strand_, [this] {
    stopped_ = true;
    timer_->cancel();
  });
}

namespace {
struct LoadAll {
  std::vector<std::pair<std::string, std::string>> operator()(store::Connection& c) const {
    return store::all_settings(c);
  }
};
}  // namespace

asio::awaitable<void> SettingsCache::refresh_loop(std::chrono::seconds interval) {
  while (!stopped_) {
    timer_->expires_after(interval);
    std::error_code ec;
    co_await timer_->async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (ec || stopped_) break;
    LoadAll job;
    auto r = co_await store::async_run(pool_, std::move(job), asio::use_awaitable);
    if (stopped_) break;
    if (!r) {
      log::debug("settings.refresh_failed").kv("error", r.error().message);
      continue;
    }
    std::unique_lock lock(mu_);
    values_.clear();
    for (auto& [k, v] : *r) values_[k] = v;
  }
}

}  // namespace shicks::daemon
