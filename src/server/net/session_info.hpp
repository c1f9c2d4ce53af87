#pragma once
// What an open SMTP or POP3 session tells the control socket about itself
// (`session.list`, the sessions of the `watch` snapshot). The session writes on its
// own strand; the control socket reads from another thread, hence the lock and the
// atomics. Nothing here is needed by the session itself.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>

namespace shicks::net {

class SessionInfo {
 public:
  struct View {
    std::string id;        // the session id of the log lines: "s12", "p7"
    std::string protocol;  // smtp, submission, smtps, pop3, pop3s
    std::string peer;      // "192.0.2.1:50123"
    std::string user;      // empty until a login succeeds
    std::string state;     // the protocol state machine's state, e.g. "mail", "transaction"
    bool tls = false;
    std::int64_t started_unix_ms = 0;
    std::uint64_t bytes_in = 0, bytes_out = 0;
  };

  SessionInfo(std::string id, std::string protocol, std::string peer)
      : id_(std::move(id)), protocol_(std::move(protocol)), peer_(std::move(peer)),
        started_unix_ms_(std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count()) {}

  const std::string& id() const { return id_; }

  void set_user(std::string user) {
    std::lock_guard lock(mu_);
    user_ = std::move(user);
  }
  void set_state(const char* state) {
    std::lock_guard lock(mu_);
    state_ = state;
  }
  void set_tls() { tls_ = true; }
  void add_in(std::uint64_t n) { bytes_in_.fetch_add(n, std::memory_order_relaxed); }
  void add_out(std::uint64_t n) { bytes_out_.fetch_add(n, std::memory_order_relaxed); }

  View view() const {
    View v{id_, protocol_, peer_, {}, {}, tls_.load(), started_unix_ms_, bytes_in_.load(), bytes_out_.load()};
    std::lock_guard lock(mu_);
    v.user = user_;
    v.state = state_;
    return v;
  }

 private:
  const std::string id_, protocol_, peer_;
  const std::int64_t started_unix_ms_;
  mutable std::mutex mu_;
  std::string user_;
  std::string state_ = "connected";
  std::atomic<bool> tls_{false};
  std::atomic<std::uint64_t> bytes_in_{0}, bytes_out_{0};
};

}  // namespace shicks::net
