#pragma once
// The runtime settings (database table `settings`) as the sessions see them: loaded
// at start and re-read every few seconds, so a change made through the control
// socket -- by this daemon or another one on the same database -- takes effect
// without a restart.
#include <map>
#include <memory>
#include <shared_mutex>
#include <string>

#include "server/daemon/refresher.hpp"
#include "server/store/db_pool.hpp"

namespace shicks::daemon {

class SettingsCache {
 public:
  explicit SettingsCache(store::DbPool& pool);

  void load(store::Connection& c);  // at start, on the main thread
  std::string get(const std::string& name) const;  // the default when unset
  bool flag(const std::string& name) const { return get(name) == "true"; }
  unsigned number(const std::string& name) const;
  void set_local(const std::string& name, const std::string& value);  // after a control-socket write

  // Re-reads every `interval` until stop().
  void start(asio::io_context& io, std::chrono::seconds interval) { refresher_.start(io, interval); }
  void stop() { refresher_.stop(); }

 private:
  mutable std::shared_mutex mu_;
  std::map<std::string, std::string> values_;
  Refresher refresher_;
};

}  // namespace shicks::daemon
