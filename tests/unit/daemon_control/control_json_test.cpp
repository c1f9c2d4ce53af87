// The JSON answers of the admin commands, built from plain structs: the shapes
// shicksctl (src/ctl/commands.cpp) and scripts reading `--json` rely on.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "server/daemon/control_json.hpp"

using namespace shicks;
using namespace shicks::daemon;
using nlohmann::json;

namespace {

admin::UserSummary alice() {
  admin::UserSummary s;
  s.name = "alice";
  s.enabled = true;
  s.created_at = "2026-11-24T06:10:00Z";
  s.addresses = 2;
  s.messages = 3;
  s.mailbox_bytes = 4096;
  return s;
}

admin::QueueEntry entry() {
  admin::QueueEntry q;
  q.id = 5;
  q.message_id = 9;
  q.sender = "a@example.org";
  q.recipient = "b@example.net";
  q.attempts = 2;
  q.next_attempt_at = "2026-11-24T06:20:00Z";
  q.last_attempt_at = "2026-11-24T06:10:00Z";
  q.last_error = "451 4.3.0 try later";
  q.created_at = "2026-11-24T06:00:00Z";
  q.size = 1234;
  q.subject = "Hello";
  q.header_from = "A <a@example.org>";
  return q;
}

}  // namespace

TEST_CASE("control answers: users") {
  const json user = {{"name", "alice"},   {"enabled", true}, {"created_at", "2026-11-24T06:10:00Z"},
                     {"last_login_at", nullptr}, {"address_count", 2}, {"messages", 3},
                     {"mailbox_bytes", 4096}};
  CHECK(answers::user(alice()) == user);
  CHECK(answers::users({alice()}) == json{{"users", json::array({user})}});
  CHECK(answers::users({}) == json{{"users", json::array()}});

  admin::UserDetail d{alice(), {{"alice@example.org", 1}, {"team@example.org", 3}}};
  json detail = user;
  detail["addresses"] = json::array({json{{"address", "alice@example.org"}, {"users", 1}},
                                     json{{"address", "team@example.org"}, {"users", 3}}});
  CHECK(answers::user_detail(d) == detail);

  admin::DeletedUser del{"alice", {"alice@example.org"}, 3, 2};
  CHECK(answers::deleted_user(del) == json{{"name", "alice"},
                                           {"addresses_removed", json::array({"alice@example.org"})},
                                           {"messages_removed", 3},
                                           {"bodies_removed", 2}});
  CHECK(answers::password_changed("alice") == json{{"name", "alice"}, {"password_changed", true}});
  CHECK(answers::enabled("alice", false, true) == json{{"name", "alice"}, {"enabled", false}, {"changed", true}});
}

TEST_CASE("control answers: addresses") {
  admin::AddressInfo catch_all{"@example.org", true, {"alice", "bob"}};
  const json a = {{"address", "@example.org"}, {"catch_all", true}, {"users", json::array({"alice", "bob"})}};
  CHECK(answers::address(catch_all) == a);
  CHECK(answers::addresses({catch_all}) == json{{"addresses", json::array({a})}});
}

TEST_CASE("control answers: mailboxes") {
  admin::MailboxMessage ham{1, 100, "2026-11-24T06:10:00Z", "A <a@example.org>", "a@example.org", "Hi", false, ""};
  admin::MailboxMessage spam{2, 50, "", "B", "", "[SPAM] cheap", true, "cheap"};
  json j = answers::mailbox("alice", {ham, spam});
  CHECK(j == json{{"user", "alice"},
                  {"messages", json::array({json{{"id", 1},
                                                 {"size", 100},
                                                 {"received_at", "2026-11-24T06:10:00Z"},
                                                 {"from", "A <a@example.org>"},
                                                 {"envelope_from", "a@example.org"},
                                                 {"subject", "Hi"},
                                                 {"spam", false},
                                                 {"spam_keyword", nullptr}},
                                            json{{"id", 2},
                                                 {"size", 50},
                                                 {"received_at", nullptr},
                                                 {"from", "B"},
                                                 {"envelope_from", ""},
                                                 {"subject", "[SPAM] cheap"},
                                                 {"spam", true},
                                                 {"spam_keyword", "cheap"}}})},
                  {"total_bytes", 150}});
  admin::Purged p{3, 300, 1};
  CHECK(answers::purged("alice", p) ==
        json{{"user", "alice"}, {"messages_removed", 3}, {"bytes_removed", 300}, {"bodies_removed", 1}});
}

TEST_CASE("control answers: settings keep secrets out, relay settings as one object") {
  admin::Setting action{"spam.action", "tag", "tag", "what a spam hit does", false, true};
  admin::Setting secret{"relay.password", "", "", "the relay password", true, true};
  CHECK(answers::setting(action) == json{{"name", "spam.action"},
                                         {"value", "tag"},
                                         {"default", "tag"},
                                         {"description", "what a spam hit does"},
                                         {"secret", false},
                                         {"set", true}});
  CHECK(answers::setting(secret) == json{{"name", "relay.password"},
                                         {"value", nullptr},
                                         {"default", nullptr},
                                         {"description", "the relay password"},
                                         {"secret", true},
                                         {"set", true}});
  CHECK(answers::settings({action}) == json{{"settings", json::array({answers::setting(action)})}});

  admin::Setting host{"relay.host", "smtp.example.net", "", "", false, true};
  admin::Setting port{"relay.port", "587", "25", "", false, true};
  CHECK(answers::relay({host, port, secret}) ==
        json{{"host", "smtp.example.net"}, {"port", "587"}, {"password_set", true}, {"enabled", true}});
  host.value = "";
  CHECK(answers::relay({host}) == json{{"host", ""}, {"enabled", false}});
  CHECK(answers::relay({}) == json{{"enabled", false}});
}

TEST_CASE("control answers: spam keywords") {
  CHECK(answers::keywords_added({"cheap", "viagra"}) == json{{"added", json::array({"cheap", "viagra"})}});
  CHECK(answers::keywords_deleted({"cheap"}) == json{{"deleted", json::array({"cheap"})}});
  admin::Keyword k{"cheap", 4, "2026-11-24T06:10:00Z", "2026-11-01T00:00:00Z"};
  admin::Keyword never{"rare", 0, "", "2026-11-01T00:00:00Z"};
  CHECK(answers::keywords({k, never}) ==
        json{{"keywords", json::array({json{{"keyword", "cheap"},
                                            {"hits", 4},
                                            {"last_hit_at", "2026-11-24T06:10:00Z"},
                                            {"created_at", "2026-11-01T00:00:00Z"}},
                                       json{{"keyword", "rare"},
                                            {"hits", 0},
                                            {"last_hit_at", nullptr},
                                            {"created_at", "2026-11-01T00:00:00Z"}}})}});
  CHECK(answers::imported({7, 2}) == json{{"added", 7}, {"present", 2}});
}

TEST_CASE("control answers: the relay queue") {
  const json q = {{"id", 5},
                  {"message_id", 9},
                  {"sender", "a@example.org"},
                  {"recipient", "b@example.net"},
                  {"attempts", 2},
                  {"next_attempt_at", "2026-11-24T06:20:00Z"},
                  {"last_attempt_at", "2026-11-24T06:10:00Z"},
                  {"last_error", "451 4.3.0 try later"},
                  {"claimed_by", nullptr},
                  {"claimed_until", nullptr},
                  {"created_at", "2026-11-24T06:00:00Z"},
                  {"size", 1234},
                  {"subject", "Hello"},
                  {"from", "A <a@example.org>"}};
  CHECK(answers::queue_entry(entry()) == q);
  CHECK(answers::queue({entry()}) == json{{"entries", json::array({q})}});
  CHECK(answers::queue_deleted({entry(), true}) == json{{"deleted", q}, {"body_removed", true}});
  CHECK(answers::flushed(3) == json{{"flushed", 3}});
  admin::QueueEntry fresh;
  json j = answers::queue_entry(fresh);
  for (const char* key : {"next_attempt_at", "last_attempt_at", "last_error", "claimed_by", "claimed_until",
                          "created_at"}) {
    INFO(key);
    CHECK(j.at(key).is_null());
  }
}

TEST_CASE("control answers: open sessions and login bans") {
  net::SessionInfo::View s;
  s.id = "p7";
  s.protocol = "pop3";
  s.peer = "192.0.2.1:50123";
  s.state = "authorization";
  s.started_unix_ms = 1'000'000;
  s.bytes_in = 40;
  s.bytes_out = 1234;
  net::SessionInfo::View logged_in = s;
  logged_in.user = "alice";
  logged_in.tls = true;
  json j = answers::sessions({s, logged_in}, 1'012'500);
  REQUIRE(j.size() == 2);
  CHECK(j[0] == json{{"id", "p7"},
                     {"protocol", "pop3"},
                     {"peer", "192.0.2.1:50123"},
                     {"user", nullptr},
                     {"state", "authorization"},
                     {"tls", false},
                     {"started_ms", 1'000'000},
                     {"age_seconds", 12},
                     {"bytes_in", 40},
                     {"bytes_out", 1234}});
  CHECK(j[1]["user"] == "alice");
  CHECK(j[1]["tls"] == true);
  // A clock that went back gives age 0, not a negative one.
  CHECK(answers::sessions({s}, 999'000)[0]["age_seconds"] == 0);

  std::vector<auth::Throttle::Ban> bans = {{"192.0.2.7", 5, std::chrono::seconds(287)}};
  CHECK(answers::bans(bans) ==
        json{{"bans", json::array({json{{"ip", "192.0.2.7"}, {"failures", 5}, {"retry_after_seconds", 287}}})}});
  CHECK(answers::bans({}) == json{{"bans", json::array()}});
}

TEST_CASE("control answers: dump replaces invalid UTF-8 instead of throwing") {
  json j = {{"subject", std::string("caf\xe9")}};
  CHECK(answers::dump(j) == "{\"subject\":\"caf\xef\xbf\xbd\"}");
}
