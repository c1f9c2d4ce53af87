#pragma once
// The runtime settings (database table `settings`) as the sessions see them: loaded
// at start and re-read every few seconds, so a change made through the control
// socket -- by this daemon or another one on the same database -- takes effect
// without a restart. Every read is labelled with the 'settings' change counter and
// an older read never replaces a newer one (config/settings_snapshot.hpp).
#include <memory>
#include <shared_mutex>
#include <string>

#include "server/config/settings_snapshot.hpp"
#include "server/services/refresher.hpp"
#include "server/store/db_pool.hpp"

namespace shicks::services {

class SettingsCache {
 public:
  explicit SettingsCache(store::DbPool& pool);

  // Reads the table: at start (main thread), every few seconds, and right after a
  // control-socket write (on its connection, after the commit). Throws DbError.
  void load(store::Connection& c);
  // A setting's value as the table holds it now (config::SettingsSnapshot::get):
  // settings.get(config::setting::spam_action).
  template <class T>
  T get(config::Setting<T> key) const {
    std::shared_lock lock(mu_);
    return snapshot_.get(key);
  }

  // Re-reads every `interval` until stop().
  void start(asio::io_context& io, std::chrono::seconds interval) { refresher_.start(io, interval); }
  void stop() { refresher_.stop(); }

 private:
  mutable std::shared_mutex mu_;
  config::SettingsSnapshot snapshot_;  // under mu_
  Refresher refresher_;
};

}  // namespace shicks::services
