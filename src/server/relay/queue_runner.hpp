#pragma once
// The relay queue runner: claims due relay_queue rows (store/relay_store.hpp),
// sends them through the smarthost (smtp_client.hpp), one SMTP transaction per
// message and one connection per batch, and records each recipient's result as
// relay::plan() (plan.hpp) says: delivered -> the row goes; temporary failure ->
// retried with backoff (backoff.hpp); permanent failure or lifetime over -> a DSN
// (dsn.hpp) to a local sender, and the row goes. At-least-once: a runner that dies mid-delivery leaves its lease to run
// out (or, restarted, voids it at once) and the recipients are sent again.
//
// It sleeps until woken (mail queued here, `queue flush`) or until the next row is
// due, and polls anyway every kPollSeconds for rows queued by other daemons.
#include <memory>
#include <string>

#include <asio/awaitable.hpp>
#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>
#include <asio/strand.hpp>

#include "server/relay/smtp_client.hpp"

namespace shicks::services {
struct ServerContext;
class SettingsCache;
}  // namespace shicks::services

namespace shicks::relay {

// The relay.* settings as they are now.
RelaySettings current_settings(const services::SettingsCache& settings, const std::string& helo_name);

class QueueRunner {
 public:
  static constexpr unsigned kLeaseSeconds = 900;  // a claim's lifetime; a batch ends 2 minutes before
  static constexpr unsigned kBatchRows = 50;
  static constexpr unsigned kPollSeconds = 30;

  explicit QueueRunner(services::ServerContext& ctx);
  ~QueueRunner();
  QueueRunner(const QueueRunner&) = delete;
  QueueRunner& operator=(const QueueRunner&) = delete;

  void start();
  void wake();  // any thread: look at the queue now
  void stop();  // any thread: end the loop; a delivery in progress is abandoned

  // "machine/instance/pid": instance identifies this daemon on its machine (its
  // control socket), so a restarted daemon recognises its own stale leases.
  const std::string& owner() const { return owner_; }

 private:
  struct Batch;
  asio::awaitable<void> run();
  asio::awaitable<void> deliver(Batch batch);

  services::ServerContext& ctx_;
  asio::strand<asio::io_context::executor_type> strand_;
  asio::steady_timer timer_;  // strand_ only, like everything below
  bool woken_ = false;
  bool stopping_ = false;
  SmtpSession* active_ = nullptr;
  std::string owner_prefix_;
  std::string owner_;
};

}  // namespace shicks::relay
