#include "tui/model.hpp"

#include <catch2/catch.hpp>
#include <fmt/core.h>

using namespace shicks::tui;

namespace {
constexpr std::int64_t kT0 = 1795500000000;  // a whole minute: 1795500000000 / 60000 = 29925000

std::string snapshot(std::int64_t time_ms, std::uint64_t accepted, std::string extra = "") {
  return fmt::format(
      R"({{"v":1,"event":"snapshot","time_ms":{},"version":"0.1.0","hostname":"mx.example.org","uptime_seconds":93784,)"
      R"("listeners":[{{"protocol":"smtp","address":"127.0.0.1:2525"}},{{"protocol":"pop3","address":"127.0.0.1:1100"}}],)"
      R"("database":{{"state":"up","mode":"managed","name":"maildb","relay_queue":2}},)"
      R"("connections_open":1,"connections_total":7,)"
      R"("counters":{{"smtp_messages_accepted":{},"pop3_retrievals":4,"future_counter":9}},)"
      R"("sessions":[{{"id":"p3","protocol":"pop3","peer":"127.0.0.1:5000","user":"alice","state":"transaction",)"
      R"("tls":false,"age_seconds":75,"bytes_in":40,"bytes_out":2048}},)"
      R"({{"id":"s4","protocol":"smtp","peer":"127.0.0.1:5001","user":null,"state":"mail","tls":true,)"
      R"("age_seconds":2,"bytes_in":100,"bytes_out":300}}]{}}})",
      time_ms, accepted, extra);
}

std::string activity(std::uint64_t seq, const char* type) {
  return fmt::format(R"({{"v":1,"event":"activity","seq":{},"time_ms":{},"type":"{}",)"
                     R"("fields":[["id","ABC"],["size","1234"]]}})",
                     seq, kT0, type);
}
}  // namespace

TEST_CASE("a snapshot fills the header, listeners, sessions and counters", "[tui]") {
  Model m;
  REQUIRE(m.apply_line(snapshot(kT0, 5)));
  CHECK(m.connected());
  CHECK(m.hostname() == "mx.example.org");
  CHECK(m.version() == "0.1.0");
  CHECK(m.uptime_seconds() == 93784);
  CHECK(m.db_state() == "up");
  CHECK(m.db_mode() == "managed");
  REQUIRE(m.listeners().size() == 2);
  CHECK(m.listeners()[1].protocol == "pop3");
  CHECK(m.listeners()[1].address == "127.0.0.1:1100");
  REQUIRE(m.sessions().size() == 2);
  CHECK(m.sessions()[0].id == "p3");
  CHECK(m.sessions()[0].user == "alice");
  CHECK(m.sessions()[0].bytes_out == 2048);
  CHECK(m.sessions()[1].user.empty());
  CHECK(m.sessions()[1].tls);
  CHECK(m.counters().at("future_counter") == 9);  // unknown counters are kept too
  CHECK(m.queue().known);
  CHECK(m.queue().size == 2);
  CHECK(m.rate("relay_sent") == nullptr);  // not reported: shown as absent
  REQUIRE(m.rate("smtp_messages_accepted") != nullptr);
  CHECK(m.rate("smtp_messages_accepted")->last_minute() == 0);  // the first value is not growth
}

TEST_CASE("lines that are not stream events are ignored", "[tui]") {
  Model m;
  CHECK_FALSE(m.apply_line("not json"));
  CHECK_FALSE(m.apply_line(R"({"v":1,"id":1,"ok":true,"result":{}})"));
  CHECK_FALSE(m.apply_line("[1,2]"));
  CHECK_FALSE(m.connected());
  // Odd field types read as empty, not as an error.
  CHECK(m.apply_line(R"({"event":"snapshot","hostname":7,"listeners":"x","counters":[],"sessions":{}})"));
  CHECK(m.hostname() == "7");
  CHECK(m.listeners().empty());
}

TEST_CASE("activity lines become events, newest first, without repeats", "[tui]") {
  Model m;
  REQUIRE(m.apply_line(activity(1, "smtp.accepted")));
  REQUIRE(m.apply_line(activity(2, "pop3.login")));
  REQUIRE(m.apply_line(activity(2, "pop3.login")));  // a resumed stream repeats nothing
  REQUIRE(m.events().size() == 2);
  CHECK(m.events()[0].type == "pop3.login");
  CHECK(m.events()[1].fields[1] == std::pair<std::string, std::string>("size", "1234"));
  CHECK(m.last_event_seq() == 2);
  m.reset_event_seq();
  REQUIRE(m.apply_line(activity(1, "relay.sent")));  // a restarted daemon counts from 1
  CHECK(m.events()[0].type == "relay.sent");
}

TEST_CASE("the event list keeps the newest kMaxEvents", "[tui]") {
  Model m;
  for (std::uint64_t i = 1; i <= Model::kMaxEvents + 10; ++i) m.apply_line(activity(i, "smtp.accepted"));
  CHECK(m.events().size() == Model::kMaxEvents);
  CHECK(m.events().front().seq == Model::kMaxEvents + 10);
}

TEST_CASE("rates: growth in the last minute and per-minute history", "[tui]") {
  Rate r;
  r.sample(kT0, 100);
  CHECK(r.last_minute() == 0);
  r.sample(kT0 + 10000, 103);
  r.sample(kT0 + 20000, 104);
  CHECK(r.last_minute() == 4);
  CHECK(r.history(10) == std::vector<std::uint64_t>{4});
  r.sample(kT0 + 75000, 106);  // next minute; the growth at +10 s (3) left the window
  CHECK(r.last_minute() == 3);
  CHECK(r.history(10) == std::vector<std::uint64_t>{4, 2});
  r.sample(kT0 + 3 * 60000 + 1000, 106);  // a quiet minute in between reads as zero
  CHECK(r.history(10) == std::vector<std::uint64_t>{4, 2, 0, 0});
  CHECK(r.history(2) == std::vector<std::uint64_t>{0, 0});
  CHECK(r.last_minute() == 0);
  CHECK(r.total() == 106);
}

TEST_CASE("rates: after a restart the new value is the growth", "[tui]") {
  Rate r;
  r.sample(kT0, 50);
  r.sample(kT0 + 1000, 40);  // down without a restart: no growth
  CHECK(r.last_minute() == 0);
  r.restarted();
  r.sample(kT0 + 2000, 2);
  CHECK(r.last_minute() == 2);
  CHECK(r.total() == 2);

  Model m;  // the model sees the restart in the uptime
  std::string a = R"({"event":"snapshot","time_ms":1795500000000,"uptime_seconds":100,"counters":{"x":50,"connections_open":3}})";
  std::string b = R"({"event":"snapshot","time_ms":1795500005000,"uptime_seconds":2,"counters":{"x":3,"connections_open":1}})";
  m.apply_line(a);
  m.apply_line(b);
  CHECK(m.rate("x")->last_minute() == 3);
  CHECK(m.rate("connections_open") == nullptr);  // a level, not a total
  CHECK(m.counters().at("connections_open") == 1);
}

TEST_CASE("rates: the history keeps at most kHistoryMinutes", "[tui]") {
  Rate r;
  for (std::uint64_t i = 0; i < 100; ++i) r.sample(kT0 + std::int64_t(i) * 60000, i);
  CHECK(r.history(1000).size() == Rate::kHistoryMinutes);
  CHECK(r.history(1000).back() == 1);
}

TEST_CASE("the model's rates follow snapshots", "[tui]") {
  Model m;
  m.apply_line(snapshot(kT0, 5));
  m.apply_line(snapshot(kT0 + 1000, 6));
  CHECK(m.rate("smtp_messages_accepted")->last_minute() == 1);
  CHECK(m.rate("pop3_retrievals")->last_minute() == 0);
}

TEST_CASE("disconnection keeps what was known but forgets the sessions", "[tui]") {
  Model m;
  m.apply_line(snapshot(kT0, 5));
  m.set_disconnected("cannot connect to /run/shicks/control.sock: No such file or directory");
  CHECK_FALSE(m.connected());
  CHECK(m.ever_connected());
  CHECK(m.error().find("No such file") != std::string::npos);
  CHECK(m.sessions().empty());
  CHECK(m.listeners().size() == 2);
  m.apply_line(snapshot(kT0 + 1000, 5));
  CHECK(m.connected());
  CHECK(m.error().empty());
}

TEST_CASE("spam keywords: top hits first, then by name", "[tui]") {
  Model m;
  CHECK_FALSE(m.has_keywords());
  m.apply_spam_list(R"({"keywords":[{"keyword":"viagra","hits":3},{"keyword":"lottery","hits":9},)"
                    R"({"keyword":"casino","hits":3},{"keyword":"zzz","hits":0}]})");
  CHECK(m.has_keywords());
  auto top = m.top_keywords(3);
  REQUIRE(top.size() == 3);
  CHECK(top[0].keyword == "lottery");
  CHECK(top[1].keyword == "casino");
  CHECK(top[2].keyword == "viagra");
  // A snapshot that carries keywords itself replaces them.
  m.apply_line(snapshot(kT0, 1, R"(,"spam_keywords":[{"keyword":"prize","hits":1}])"));
  CHECK(m.top_keywords(10).size() == 1);
}

TEST_CASE("queue: size from the snapshot, oldest and deferred from queue.list", "[tui]") {
  Model m;
  CHECK_FALSE(m.queue().known);
  m.apply_line(snapshot(kT0, 1));
  CHECK(m.queue().size == 2);
  CHECK_FALSE(m.queue().deferred);
  m.apply_queue_list(R"({"entries":[{"id":1,"recipient":"a@x.example","attempts":0,"created_at":"2026-11-24T06:00:00Z"},)"
                     R"({"id":2,"recipient":"b@x.example","attempts":3,"created_at":"2026-11-24T05:00:00Z",)"
                     R"("last_error":"451 try later"}]})",
                     (*parse_utc("2026-11-24T06:30:00Z")) * 1000);
  REQUIRE(m.queue_entries().size() == 2);
  CHECK(m.queue().size == 2);
  CHECK(m.queue().deferred == 1u);
  CHECK(m.queue().oldest_age_seconds == 5400u);
  CHECK(m.queue_entries()[1].last_error == "451 try later");
}

TEST_CASE("queue: a snapshot with a queue object wins over queue.list", "[tui]") {
  Model m;
  m.apply_line(snapshot(kT0, 1, R"(,"queue":{"size":7,"deferred":2,"oldest_age_seconds":600})"));
  m.apply_queue_list(R"({"entries":[]})", kT0);
  CHECK(m.queue().size == 7);
  CHECK(m.queue().deferred == 2u);
  CHECK(m.queue().oldest_age_seconds == 600u);
}

TEST_CASE("request arguments and answers", "[tui]") {
  CHECK(watch_args(1.5, 12) == R"({"interval_seconds":1.5,"since_seq":12})");
  CHECK(kill_args("p\"7") == R"({"id":"p\"7"})");
  CHECK(watch_last_seq(R"({"interval_seconds":1.0,"last_event_seq":42})") == 42);
  CHECK(watch_last_seq("garbage") == 0);
  CHECK(kill_message(R"({"killed":"p7"})") == "session p7 ended");
  CHECK(flush_message(R"({"flushed":1})") == "queue flushed: 1 entry is due now");
  CHECK(flush_message(R"({"flushed":3})") == "queue flushed: 3 entries are due now");
}

TEST_CASE("parse_utc", "[tui]") {
  CHECK(parse_utc("1970-01-01T00:01:00Z") == 60);
  CHECK(parse_utc("2026-11-24 06:10:00") == parse_utc("2026-11-24T06:10:00Z"));
  CHECK_FALSE(parse_utc(""));
  CHECK_FALSE(parse_utc("yesterday"));
}
