#pragma once
// Process-wide counters and the recent-event ring, read by the control socket
// (`status`, `watch`). Sessions on any thread bump counters (atomics) and emit
// events (a short mutex); readers take snapshots.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "common/log.hpp"

namespace shicks::services {

struct ListenerInfo {
  std::string protocol;  // smtp, submission, smtps, pop3, pop3s, control
  std::string address;   // 127.0.0.1:2525 or the socket path
};

// Something that happened, for shicks-top's event list: `type` like
// "smtp.accepted", `fields` in the order they read best.
struct StatsEvent {
  std::uint64_t seq = 0;       // 1, 2, 3... in emission order
  std::int64_t unix_ms = 0;    // wall-clock time of emission
  std::string type;
  std::vector<std::pair<std::string, std::string>> fields;
};

class Stats {
 public:
  Stats() : started_(std::chrono::steady_clock::now()) {}

  std::atomic<std::uint64_t> connections_total{0};
  std::atomic<std::uint64_t> connections_open{0};
  // refused because server.max_connections, smtp.max_connections or
  // pop3.max_connections was reached
  std::atomic<std::uint64_t> connections_refused{0};
  std::atomic<std::uint64_t> connections_refused_per_ip{0};  // smtp/pop3.max_connections_per_ip
  std::atomic<std::uint64_t> connections_stress{0};          // times stress began (connections.stress)
  std::atomic<std::uint64_t> connections_stress_timeouts{0};  // sessions ended by the stress timeout
  std::atomic<std::uint64_t> control_requests{0};
  // SMTP
  std::atomic<std::uint64_t> smtp_messages_accepted{0};
  std::atomic<std::uint64_t> smtp_messages_rejected{0};  // refused at end of DATA (size, bare LF, storage)
  std::atomic<std::uint64_t> smtp_recipients_rejected{0};
  std::atomic<std::uint64_t> smtp_bytes_received{0};
  std::atomic<std::uint64_t> auth_checks{0};    // passwords checked (SMTP AUTH and POP3 logins)
  std::atomic<std::uint64_t> auth_failures{0};  // SMTP AUTH and POP3 logins
  // POP3
  std::atomic<std::uint64_t> pop3_sessions{0};
  std::atomic<std::uint64_t> pop3_logins{0};
  std::atomic<std::uint64_t> pop3_retrievals{0};  // RETR and TOP
  std::atomic<std::uint64_t> pop3_bytes_sent{0};   // message octets sent by RETR/TOP (after dot-stuffing)
  std::atomic<std::uint64_t> pop3_deletions{0};    // messages removed at QUIT
  // Spam filter
  std::atomic<std::uint64_t> spam_hits{0};      // messages whose Subject matched a keyword
  std::atomic<std::uint64_t> spam_rejected{0};  // of those, refused (spam.action = reject)
  // Relay (per recipient)
  std::atomic<std::uint64_t> relay_queued{0};    // queued for the smarthost by this daemon
  std::atomic<std::uint64_t> relay_sent{0};      // accepted by the smarthost
  std::atomic<std::uint64_t> relay_deferred{0};  // temporary failures (retried later)
  std::atomic<std::uint64_t> relay_bounced{0};   // given up: permanent failure or lifetime over

  // Every counter above by name, for `status` and `watch`.
  std::vector<std::pair<const char*, std::uint64_t>> counters() const;

  void add_listener(ListenerInfo l);
  std::vector<ListenerInfo> listeners() const;
  std::uint64_t uptime_seconds() const;
  std::string next_session_id(char prefix);

  // Keeps the last kEventRing events.
  static constexpr std::size_t kEventRing = 512;
  void emit(std::string type, std::vector<std::pair<std::string, std::string>> fields);
  // Events with seq > after, oldest first (at most kEventRing).
  std::vector<StatsEvent> events_after(std::uint64_t after) const;
  std::uint64_t last_event_seq() const;

 private:
  std::chrono::steady_clock::time_point started_;
  mutable std::mutex mu_;
  std::vector<ListenerInfo> listeners_;
  std::deque<StatsEvent> events_;
  std::uint64_t event_seq_ = 0;
  std::atomic<std::uint64_t> next_id_{1};
};

// One event for both the log and the watch stream (`shicksctl watch`, shicks-top),
// written when it goes out of scope. kv() fields go to both; log() fields only to the
// log line, watch() fields only to the watch event (where the two name or show a fact
// differently). The watch event is kept whatever the log level.
//   Published(stats, log::Level::info, sid, "smtp.accepted").kv("id", id).log("size", n);
class Published {
 public:
  Published(Stats& stats, log::Level level, std::string_view sid, std::string type)
      : Published(stats, level, sid, type, type) {}
  // The log line and the watch event have different names (pop3.update / pop3.quit).
  Published(Stats& stats, log::Level level, std::string_view sid, std::string_view log_name, std::string watch_type)
      : stats_(stats), line_(level, sid, log_name), type_(std::move(watch_type)) {}
  ~Published() { stats_.emit(std::move(type_), std::move(fields_)); }
  Published(const Published&) = delete;
  Published& operator=(const Published&) = delete;

  template <class V>
  Published& kv(std::string_view key, const V& value) {
    line_.kv(key, value);
    return watch(std::string(key), value);
  }
  template <class V>
  Published& log(std::string_view key, const V& value) {
    line_.kv(key, value);
    return *this;
  }
  template <class V>
  Published& watch(std::string key, const V& value) {
    if constexpr (std::is_arithmetic_v<V> && !std::is_same_v<V, bool>)
      fields_.emplace_back(std::move(key), std::to_string(value));
    else
      fields_.emplace_back(std::move(key), std::string(value));
    return *this;
  }

 private:
  Stats& stats_;
  log::Event line_;
  std::string type_;
  std::vector<std::pair<std::string, std::string>> fields_;
};

// Counts one connection in connections_total and, for its lifetime (however it
// ends), in connections_open.
class OpenConnection {
 public:
  explicit OpenConnection(Stats& s) : s_(s) {
    s_.connections_total++;
    s_.connections_open++;
  }
  ~OpenConnection() { s_.connections_open--; }
  OpenConnection(const OpenConnection&) = delete;
  OpenConnection& operator=(const OpenConnection&) = delete;

 private:
  Stats& s_;
};

}  // namespace shicks::services
