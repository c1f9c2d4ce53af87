#pragma once
// What shicks-top knows about the daemon, built from the lines of the control
// socket's `watch` stream (and a few plain requests: spam.list, queue.list).
// Pure: no socket, no terminal, no clock (times come from the daemon's lines or
// from the caller). The JSON is parsed here and nowhere else in shicks-top.
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace shicks::tui {

struct Listener {
  std::string protocol, address;
};

struct Session {
  std::string id, protocol, peer, user, state;
  bool tls = false;
  std::uint64_t age_seconds = 0, bytes_in = 0, bytes_out = 0;
};

struct Event {
  std::uint64_t seq = 0;
  std::int64_t time_ms = 0;
  std::string type;
  std::vector<std::pair<std::string, std::string>> fields;
};

struct QueueEntry {
  std::uint64_t id = 0;
  std::string recipient, sender, next_attempt_at, last_error, created_at;
  std::uint64_t attempts = 0, size = 0;
};

struct Keyword {
  std::string keyword;
  std::uint64_t hits = 0;
  std::string last_hit_at;
};

// The growth of one cumulative counter: how much it rose in the last minute and in
// each of the last minutes (oldest first).
class Rate {
 public:
  static constexpr std::size_t kHistoryMinutes = 60;

  void sample(std::int64_t time_ms, std::uint64_t value);
  // The daemon restarted: its counters began again from zero, so the next value
  // is growth in full.
  void restarted() { last_value_ = 0; }
  bool seen() const { return last_ms_ >= 0; }
  std::uint64_t total() const { return last_value_; }
  // Growth in the 60 s before the latest sample.
  std::uint64_t last_minute() const;
  // Growth per wall-clock minute, oldest first, ending with the current minute;
  // at most `minutes` entries (fewer while the history is young).
  std::vector<std::uint64_t> history(std::size_t minutes) const;

 private:
  std::int64_t last_ms_ = -1;
  std::uint64_t last_value_ = 0;
  std::deque<std::pair<std::int64_t, std::uint64_t>> recent_;  // (time, growth) of the last minute
  std::map<std::int64_t, std::uint64_t> minutes_;              // minute number -> growth
};

// The four rates of the dashboard, by counter name (a counter the daemon does not
// report shows as absent: the relay and the spam filter may not be built in).
struct RateDef {
  const char* label;
  const char* counter;
};
inline constexpr RateDef kRates[] = {
    {"received", "smtp_messages_accepted"},
    {"relayed", "relay_sent"},
    {"retrieved", "pop3_retrievals"},
    {"spam hits", "spam_hits"},
};

// Counters of the snapshot that are levels, not totals: no rate for them.
inline constexpr const char* kGauges[] = {"connections_open"};

struct QueueSummary {
  bool known = false;              // from the snapshot or a queue.list answer
  std::uint64_t size = 0;
  std::optional<std::uint64_t> deferred;            // entries tried at least once
  std::optional<std::uint64_t> oldest_age_seconds;  // of the oldest entry
};

class Model {
 public:
  static constexpr std::size_t kMaxEvents = 500;

  // One line of the watch stream ("snapshot" or "activity"). False when the line is
  // not one of those (it is ignored).
  bool apply_line(std::string_view line);
  // The result of `spam.list` and `queue.list` (the "result" object's text).
  void apply_spam_list(std::string_view result_json);
  void apply_queue_list(std::string_view result_json, std::int64_t now_ms);

  void set_connected();
  void set_disconnected(std::string reason);

  // ---- what the screen shows
  bool connected() const { return connected_; }
  bool ever_connected() const { return ever_connected_; }
  const std::string& error() const { return error_; }
  const std::string& hostname() const { return hostname_; }
  const std::string& version() const { return version_; }
  std::uint64_t uptime_seconds() const { return uptime_; }
  const std::string& db_state() const { return db_state_; }  // up, down, "" before the first snapshot
  const std::string& db_mode() const { return db_mode_; }
  const std::string& db_name() const { return db_name_; }
  const std::string& db_error() const { return db_error_; }
  std::uint64_t connections_open() const { return connections_open_; }
  std::uint64_t connections_total() const { return connections_total_; }
  const std::vector<Listener>& listeners() const { return listeners_; }
  // Oldest first (the order the daemon lists them in).
  const std::vector<Session>& sessions() const { return sessions_; }
  // Newest first.
  const std::deque<Event>& events() const { return events_; }
  std::uint64_t last_event_seq() const { return last_seq_; }
  // Every counter of the last snapshot, by name.
  const std::map<std::string, std::uint64_t>& counters() const { return counters_; }
  // nullptr when the daemon never reported that counter.
  const Rate* rate(const std::string& counter) const;
  const QueueSummary& queue() const { return queue_; }
  const std::vector<QueueEntry>& queue_entries() const { return queue_entries_; }
  bool has_keywords() const { return keywords_known_; }
  // Highest hit count first, then by name.
  std::vector<Keyword> top_keywords(std::size_t n) const;
  std::int64_t last_snapshot_ms() const { return snapshot_ms_; }

  // The daemon restarted (its event numbers began again): forget the old position.
  void reset_event_seq() { last_seq_ = 0; }

 private:
  void apply_snapshot(const nlohmann::json& j);
  void apply_activity(const nlohmann::json& j);
  void set_keywords(const nlohmann::json& list);

  bool connected_ = false, ever_connected_ = false;
  std::string error_;
  std::string hostname_, version_;
  std::uint64_t uptime_ = 0;
  std::string db_state_, db_mode_, db_name_, db_error_;
  std::uint64_t connections_open_ = 0, connections_total_ = 0;
  std::vector<Listener> listeners_;
  std::vector<Session> sessions_;
  std::deque<Event> events_;
  std::uint64_t last_seq_ = 0;
  std::map<std::string, std::uint64_t> counters_;
  std::map<std::string, Rate> rates_;
  QueueSummary queue_;
  bool queue_in_snapshot_ = false;  // the snapshot carries deferred/oldest itself
  std::vector<QueueEntry> queue_entries_;
  std::vector<Keyword> keywords_;
  bool keywords_known_ = false;
  std::int64_t snapshot_ms_ = 0;
};

// Request arguments.
std::string watch_args(double interval_seconds, std::uint64_t since_seq);
std::string kill_args(const std::string& session_id);

// Answers to plain requests, for the status line.
// The `last_event_seq` of a watch response's result (0 when absent).
std::uint64_t watch_last_seq(std::string_view result_json);
// "session p7 ended", "queue: 3 entries due now".
std::string kill_message(std::string_view result_json);
std::string flush_message(std::string_view result_json);

// "2026-11-24T06:10:00Z" (or "2026-11-24 06:10:00") -> Unix seconds; nullopt if not a time.
std::optional<std::int64_t> parse_utc(std::string_view text);

}  // namespace shicks::tui
