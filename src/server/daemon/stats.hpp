#pragma once
// Process-wide counters, read by the control socket (`status`, `watch`).
#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

namespace shicks::daemon {

struct ListenerInfo {
  std::string protocol;  // smtp, submission, smtps, pop3, pop3s, control
  std::string address;   // 127.0.0.1:2525 or the socket path
};

class Stats {
 public:
  Stats() : started_(std::chrono::steady_clock::now()) {}

  std::atomic<std::uint64_t> connections_total{0};
  std::atomic<std::uint64_t> connections_open{0};
  std::atomic<std::uint64_t> control_requests{0};
  // SMTP
  std::atomic<std::uint64_t> smtp_messages_accepted{0};
  std::atomic<std::uint64_t> smtp_messages_rejected{0};  // refused at end of DATA (size, bare LF, storage)
  std::atomic<std::uint64_t> smtp_recipients_rejected{0};
  std::atomic<std::uint64_t> smtp_bytes_received{0};
  std::atomic<std::uint64_t> auth_failures{0};

  void add_listener(ListenerInfo l);
  std::vector<ListenerInfo> listeners() const;
  std::uint64_t uptime_seconds() const;
  std::string next_session_id(char prefix);

 private:
  std::chrono::steady_clock::time_point started_;
  mutable std::mutex mu_;
  std::vector<ListenerInfo> listeners_;
  std::atomic<std::uint64_t> next_id_{1};
};

}  // namespace shicks::daemon
