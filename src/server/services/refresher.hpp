#pragma once
// A database read repeated every few seconds, for the caches that follow what the
// control socket (of this daemon or another on the same database) changes: the
// runtime settings, the spam keywords, the remembered recipients. The job runs on
// a DB worker; the timer lives on its own strand and never blocks a network thread.
#include <chrono>
#include <functional>
#include <optional>
#include <string>

#include <asio/awaitable.hpp>
#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>
#include <asio/strand.hpp>

#include "server/store/db_pool.hpp"

namespace shicks::services {

class Refresher {
 public:
  using Job = std::function<void(store::Connection&)>;
  using Failed = std::function<void(const store::DbFailure&)>;

  // `name` names the loop in logs; `failed` (may be empty) hears of each failed run.
  Refresher(store::DbPool& pool, std::string name, Job job, Failed failed = {})
      : pool_(pool), name_(std::move(name)), job_(std::move(job)), failed_(std::move(failed)) {}
  Refresher(const Refresher&) = delete;
  Refresher& operator=(const Refresher&) = delete;

  // Runs the job every `interval` until stop().
  void start(asio::io_context& io, std::chrono::milliseconds interval);
  void stop();

 private:
  asio::awaitable<void> loop(std::chrono::milliseconds interval);

  store::DbPool& pool_;
  std::string name_;
  Job job_;
  Failed failed_;
  std::optional<asio::strand<asio::io_context::executor_type>> strand_;
  std::optional<asio::steady_timer> timer_;  // used on strand_ only
  bool stopped_ = false;                     // strand_ only
};

}  // namespace shicks::services
