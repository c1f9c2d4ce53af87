#include "tui/model.hpp"

#include <algorithm>
#include <cstdio>
#include <ctime>

#include <nlohmann/json.hpp>

namespace shicks::tui {
using nlohmann::json;

namespace {
constexpr std::int64_t kMinuteMs = 60000;

std::int64_t minute_of(std::int64_t ms) { return ms >= 0 ? ms / kMinuteMs : (ms - kMinuteMs + 1) / kMinuteMs; }

// Lenient readers: the daemon's lines are trusted for shape, not for every field;
// a missing or odd field reads as empty or zero.
std::string str(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return {};
  if (it->is_string()) return it->get<std::string>();
  return it->dump();
}

std::uint64_t num(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end()) return 0;
  if (it->is_number_unsigned()) return it->get<std::uint64_t>();
  if (it->is_number_integer()) return std::uint64_t(std::max<std::int64_t>(0, it->get<std::int64_t>()));
  if (it->is_number_float()) return std::uint64_t(std::max(0.0, it->get<double>()));
  return 0;
}

std::optional<std::uint64_t> opt_num(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_number()) return std::nullopt;
  return num(j, key);
}

json parse_object(std::string_view text) {
  json j = json::parse(text, nullptr, false);
  return j.is_object() ? j : json::object();
}
}  // namespace

// ---------------------------------------------------------------- Rate

void Rate::sample(std::int64_t time_ms, std::uint64_t value) {
  if (last_ms_ < 0) {
    // What the counter held before we looked has no time: it is not growth.
    last_ms_ = time_ms;
    last_value_ = value;
    minutes_[minute_of(time_ms)] += 0;
    return;
  }
  std::uint64_t growth = value >= last_value_ ? value - last_value_ : 0;
  last_ms_ = std::max(last_ms_, time_ms);
  last_value_ = value;
  minutes_[minute_of(time_ms)] += growth;
  if (growth) recent_.emplace_back(time_ms, growth);
  while (!recent_.empty() && recent_.front().first <= last_ms_ - kMinuteMs) recent_.pop_front();
  std::int64_t oldest = minute_of(last_ms_) - std::int64_t(kHistoryMinutes) + 1;
  while (!minutes_.empty() && minutes_.begin()->first < oldest) minutes_.erase(minutes_.begin());
}

std::uint64_t Rate::last_minute() const {
  std::uint64_t n = 0;
  for (const auto& [t, g] : recent_) n += g;
  return n;
}

std::vector<std::uint64_t> Rate::history(std::size_t minutes) const {
  std::vector<std::uint64_t> out;
  if (last_ms_ < 0 || minutes == 0 || minutes_.empty()) return out;
  std::int64_t last = minute_of(last_ms_);
  std::int64_t first = std::max(minutes_.begin()->first, last - std::int64_t(minutes) + 1);
  for (std::int64_t m = first; m <= last; ++m) {
    auto it = minutes_.find(m);
    out.push_back(it == minutes_.end() ? 0 : it->second);
  }
  return out;
}

// ---------------------------------------------------------------- Model

bool Model::apply_line(std::string_view line) {
  json j = json::parse(line, nullptr, false);
  if (!j.is_object()) return false;
  std::string kind = str(j, "event");
  if (kind == "snapshot") {
    apply_snapshot(j);
    return true;
  }
  if (kind == "activity") {
    apply_activity(j);
    return true;
  }
  return false;
}

void Model::apply_snapshot(const json& j) {
  connected_ = ever_connected_ = true;
  error_.clear();
  snapshot_ms_ = std::int64_t(num(j, "time_ms"));
  hostname_ = str(j, "hostname");
  version_ = str(j, "version");
  std::uint64_t uptime = num(j, "uptime_seconds");
  if (uptime < uptime_)
    for (auto& [name, r] : rates_) r.restarted();
  uptime_ = uptime;
  connections_open_ = num(j, "connections_open");
  connections_total_ = num(j, "connections_total");

  listeners_.clear();
  if (auto it = j.find("listeners"); it != j.end() && it->is_array())
    for (const auto& l : *it)
      if (l.is_object()) listeners_.push_back({str(l, "protocol"), str(l, "address")});

  const json db = j.value("database", json::object());
  db_state_ = str(db, "state");
  db_mode_ = str(db, "mode");
  db_name_ = str(db, "name");
  db_error_ = str(db, "error");

  sessions_.clear();
  if (auto it = j.find("sessions"); it != j.end() && it->is_array())
    for (const auto& s : *it) {
      if (!s.is_object()) continue;
      Session x{str(s, "id"), str(s, "protocol"), str(s, "peer"), str(s, "user"), str(s, "state")};
      x.tls = s.value("tls", false);
      x.age_seconds = num(s, "age_seconds");
      x.bytes_in = num(s, "bytes_in");
      x.bytes_out = num(s, "bytes_out");
      sessions_.push_back(std::move(x));
    }

  counters_.clear();
  if (auto it = j.find("counters"); it != j.end() && it->is_object())
    for (const auto& [name, value] : it->items())
      if (value.is_number()) {
        counters_[name] = num(*it, name.c_str());
        bool gauge = std::find(std::begin(kGauges), std::end(kGauges), name) != std::end(kGauges);
        if (!gauge) rates_[name].sample(snapshot_ms_, counters_[name]);
      }

  // The relay queue: a "queue" object when the daemon has one, else the database
  // probe's entry count (oldest and deferred then come from queue.list).
  if (auto it = j.find("queue"); it != j.end() && it->is_object()) {
    queue_.known = true;
    queue_in_snapshot_ = true;
    queue_.size = num(*it, "size");
    queue_.deferred = opt_num(*it, "deferred");
    queue_.oldest_age_seconds = opt_num(*it, "oldest_age_seconds");
  } else if (auto q = opt_num(db, "relay_queue")) {
    queue_.known = true;
    queue_.size = *q;
    if (*q == 0) {
      queue_.deferred = 0;
      queue_.oldest_age_seconds.reset();
    }
  }

  // Top keywords, when the daemon sends them (else spam.list fills them in).
  if (auto it = j.find("spam_keywords"); it != j.end() && it->is_array()) set_keywords(*it);
}

void Model::apply_activity(const json& j) {
  Event e;
  e.seq = num(j, "seq");
  e.time_ms = std::int64_t(num(j, "time_ms"));
  e.type = str(j, "type");
  if (auto it = j.find("fields"); it != j.end() && it->is_array())
    for (const auto& f : *it)
      if (f.is_array() && f.size() == 2) {
        auto text = [](const json& v) { return v.is_string() ? v.get<std::string>() : v.dump(); };
        e.fields.emplace_back(text(f[0]), text(f[1]));
      }
  if (e.seq && e.seq <= last_seq_) return;  // already seen (a resumed stream)
  last_seq_ = std::max(last_seq_, e.seq);
  events_.push_front(std::move(e));
  if (events_.size() > kMaxEvents) events_.pop_back();
}

void Model::apply_spam_list(std::string_view result_json) {
  json j = parse_object(result_json);
  if (auto it = j.find("keywords"); it != j.end() && it->is_array()) set_keywords(*it);
}

void Model::set_keywords(const json& list) {
  keywords_.clear();
  for (const auto& k : list)
    if (k.is_object()) keywords_.push_back({str(k, "keyword"), num(k, "hits"), str(k, "last_hit_at")});
  keywords_known_ = true;
}

void Model::apply_queue_list(std::string_view result_json, std::int64_t now_ms) {
  json j = parse_object(result_json);
  auto it = j.find("entries");
  if (it == j.end() || !it->is_array()) return;
  queue_entries_.clear();
  std::uint64_t deferred = 0;
  std::optional<std::int64_t> oldest;
  for (const auto& q : *it) {
    if (!q.is_object()) continue;
    QueueEntry e{num(q, "id"), str(q, "recipient"), str(q, "sender"), str(q, "next_attempt_at"),
                 str(q, "last_error"), str(q, "created_at")};
    e.attempts = num(q, "attempts");
    e.size = num(q, "size");
    if (e.attempts > 0) ++deferred;
    if (auto t = parse_utc(e.created_at)) oldest = oldest ? std::min(*oldest, *t) : *t;
    queue_entries_.push_back(std::move(e));
  }
  if (queue_in_snapshot_) return;
  queue_.known = true;
  queue_.size = queue_entries_.size();
  queue_.deferred = deferred;
  if (oldest) queue_.oldest_age_seconds = std::uint64_t(std::max<std::int64_t>(0, now_ms / 1000 - *oldest));
  else queue_.oldest_age_seconds.reset();
}

void Model::set_connected() {
  connected_ = ever_connected_ = true;
  error_.clear();
}

void Model::set_disconnected(std::string reason) {
  connected_ = false;
  error_ = std::move(reason);
  sessions_.clear();  // they are gone with the daemon, or unknown
}

const Rate* Model::rate(const std::string& counter) const {
  auto it = rates_.find(counter);
  return it == rates_.end() ? nullptr : &it->second;
}

std::vector<Keyword> Model::top_keywords(std::size_t n) const {
  std::vector<Keyword> out = keywords_;
  std::stable_sort(out.begin(), out.end(), [](const Keyword& a, const Keyword& b) {
    if (a.hits != b.hits) return a.hits > b.hits;
    return a.keyword < b.keyword;
  });
  if (out.size() > n) out.resize(n);
  return out;
}

// ---------------------------------------------------------------- requests and answers

std::string watch_args(double interval_seconds, std::uint64_t since_seq) {
  return json{{"interval_seconds", interval_seconds}, {"since_seq", since_seq}}.dump();
}

std::string kill_args(const std::string& session_id) {
  return json{{"id", session_id}}.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::uint64_t watch_last_seq(std::string_view result_json) { return num(parse_object(result_json), "last_event_seq"); }

std::string kill_message(std::string_view result_json) {
  return "session " + str(parse_object(result_json), "killed") + " ended";
}

std::string flush_message(std::string_view result_json) {
  std::uint64_t n = num(parse_object(result_json), "flushed");
  return "queue flushed: " + std::to_string(n) + (n == 1 ? " entry is" : " entries are") + " due now";
}

std::optional<std::int64_t> parse_utc(std::string_view text) {
  int y, mo, d, h, mi, s;
  char sep;
  std::string t(text);
  if (std::sscanf(t.c_str(), "%4d-%2d-%2d%c%2d:%2d:%2d", &y, &mo, &d, &sep, &h, &mi, &s) != 7) return std::nullopt;
  if (sep != 'T' && sep != ' ') return std::nullopt;
  std::tm tm{};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = s;
  return std::int64_t(timegm(&tm));
}

}  // namespace shicks::tui
