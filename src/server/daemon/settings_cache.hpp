#pragma once
// The runtime settings (database table `settings`) as the sessions see them: loaded
// at start and re-read every few seconds, so a change made through the control
// socket -- by this daemon or another one on the same database -- takes effect
// without a restart.
#include <map>
#include <memory>
#include <shared_mutex>
#include <string>

#include <asio/awaitable.hpp>
#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>
#include <asio/strand.hpp>
#include <optional>

#include "server/store/db_pool.hpp"

namespace shicks::daemon {

class SettingsCache {
 public:
  explicit SettingsCache(store::DbPool& pool) : pool_(pool) {}

  void load(store::Connection& c);  // at start, on the main thread
  std::string get(const std::string& name) const;  // the default when unset
  bool flag(const std::string& name) const { return get(name) == "true"; }
  unsigned number(const std::string& name) const;
  void set_local(const std::string& name, const std::string& value);  // after a control-socket write

  // Re-reads every `interval` until stop().
  void start(asio::io_context& io, std::chrono::seconds interval);
  void stop();

 private:
  store::DbPool& pool_;
  mutable std::shared_mutex mu_;
  std::map<std::string, std::string> values_;
  asio::awaitable<void> refresh_loop(std::chrono::seconds interval);
  std::optional<asio::strand<asio::io_context::executor_type>> strand_;
  std::optional<asio::steady_timer> timer_;  // used on strand_ only
  bool stopped_ = false;                     // strand_ only
};

}  // namespace shicks::daemon
