#include "server/services/stats.hpp"

#include <fmt/core.h>

namespace shicks::services {

std::vector<std::pair<const char*, std::uint64_t>> Stats::counters() const {
  return {
      {"connections_total", connections_total.load()},
      {"connections_open", connections_open.load()},
      {"connections_refused", connections_refused.load()},
      {"connections_refused_per_ip", connections_refused_per_ip.load()},
      {"connections_stress", connections_stress.load()},
      {"connections_stress_timeouts", connections_stress_timeouts.load()},
      {"control_requests", control_requests.load()},
      {"smtp_messages_accepted", smtp_messages_accepted.load()},
      {"smtp_messages_rejected", smtp_messages_rejected.load()},
      {"smtp_recipients_rejected", smtp_recipients_rejected.load()},
      {"smtp_bytes_received", smtp_bytes_received.load()},
      {"auth_checks", auth_checks.load()},
      {"auth_failures", auth_failures.load()},
      {"pop3_sessions", pop3_sessions.load()},
      {"pop3_logins", pop3_logins.load()},
      {"pop3_retrievals", pop3_retrievals.load()},
      {"pop3_bytes_sent", pop3_bytes_sent.load()},
      {"pop3_deletions", pop3_deletions.load()},
      {"spam_hits", spam_hits.load()},
      {"spam_rejected", spam_rejected.load()},
      {"relay_queued", relay_queued.load()},
      {"relay_sent", relay_sent.load()},
      {"relay_deferred", relay_deferred.load()},
      {"relay_bounced", relay_bounced.load()},
  };
}

void Stats::add_listener(ListenerInfo l) {
  std::lock_guard lock(mu_);
  listeners_.push_back(std::move(l));
}

std::vector<ListenerInfo> Stats::listeners() const {
  std::lock_guard lock(mu_);
  return listeners_;
}

std::uint64_t Stats::uptime_seconds() const {
  return std::uint64_t(
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - started_).count());
}

std::string Stats::next_session_id(char prefix) { return fmt::format("{}{}", prefix, next_id_++); }

void Stats::emit(std::string type, std::vector<std::pair<std::string, std::string>> fields) {
  StatsEvent e;
  e.unix_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                  std::chrono::system_clock::now().time_since_epoch())
                  .count();
  e.type = std::move(type);
  e.fields = std::move(fields);
  std::lock_guard lock(mu_);
  e.seq = ++event_seq_;
  events_.push_back(std::move(e));
  if (events_.size() > kEventRing) events_.pop_front();
}

std::vector<StatsEvent> Stats::events_after(std::uint64_t after) const {
  std::lock_guard lock(mu_);
  std::vector<StatsEvent> out;
  for (const auto& e : events_)
    if (e.seq > after) out.push_back(e);
  return out;
}

std::uint64_t Stats::last_event_seq() const {
  std::lock_guard lock(mu_);
  return event_seq_;
}

}  // namespace shicks::services
