#include <catch2/catch.hpp>

#include "server/config/settings_snapshot.hpp"

using namespace shicks::config;

TEST_CASE("a settings read that began before a write and ends after it never brings the old value back") {
  SettingsSnapshot s;
  REQUIRE(s.apply({{"spam.action", "tag"}}, 7));  // at start
  // The periodic read sees the counter at 7 and the old rows; meanwhile
  // `config set spam.action reject` commits (counter 8) and the writer reads the
  // table again before answering.
  REQUIRE(s.apply({{"spam.action", "reject"}}, 8));
  CHECK(s.find("spam.action") == "reject");
  // The periodic read finishes last: older, dropped.
  CHECK_FALSE(s.apply({{"spam.action", "tag"}}, 7));
  CHECK(s.find("spam.action") == "reject");
  CHECK(s.version() == 8);
}

TEST_CASE("two writers answering out of order keep the later write") {
  SettingsSnapshot s;
  REQUIRE(s.apply({{"spam.action", "tag"}}, 1));
  // Write A commits at 2, write B at 3; B's writer reads the table first.
  REQUIRE(s.apply({{"spam.action", "off"}}, 3));
  CHECK_FALSE(s.apply({{"spam.action", "reject"}}, 2));
  CHECK(s.find("spam.action") == "off");
}

TEST_CASE("a read at the held version or newer replaces every value") {
  SettingsSnapshot s;
  CHECK_FALSE(s.find("relay.host"));
  REQUIRE(s.apply({{"relay.host", "a.example"}, {"relay.port", "25"}}, 4));
  // A hand edit of the table that did not bump the counter is still taken.
  REQUIRE(s.apply({{"relay.host", "b.example"}, {"relay.port", "25"}}, 4));
  CHECK(s.find("relay.host") == "b.example");
  // Another daemon's change: a newer state, with a row gone.
  REQUIRE(s.apply({{"relay.port", "587"}}, 9));
  CHECK(s.find("relay.port") == "587");
  CHECK_FALSE(s.find("relay.host"));
  CHECK(s.version() == 9);
}

TEST_CASE("typed reads: the stored value, else the default, and a value not of the key's type reads as the default") {
  SettingsSnapshot s;
  // Nothing read yet: every key has its default.
  CHECK(s.get(setting::spam_action) == "tag");
  CHECK(s.get(setting::relay_port) == 25);
  CHECK(s.get(setting::relay_tls_verify));
  CHECK_FALSE(s.get(setting::relay_allow_plaintext_auth));
  CHECK(s.get(setting::relay_host).empty());
  REQUIRE(s.apply({{"spam.action", "reject"},
                   {"relay.port", "587"},
                   {"relay.tls_verify", "false"},
                   {"relay.allow_plaintext_auth", "true"},
                   {"relay.host", "smtp.isp.example"},
                   {"auth.max_failures", "many"},
                   {"smtp.sender_must_match_auth", "yes"}},
                  1));
  CHECK(s.get(setting::spam_action) == "reject");
  CHECK(s.get(setting::relay_port) == 587);
  CHECK_FALSE(s.get(setting::relay_tls_verify));
  CHECK(s.get(setting::relay_allow_plaintext_auth));
  CHECK(s.get(setting::relay_host) == "smtp.isp.example");
  // Only a hand edit of the table stores these.
  CHECK(s.get(setting::auth_max_failures) == 5);
  CHECK(s.get(setting::smtp_sender_must_match_auth));
  // A row that is there but empty is empty, not the default.
  REQUIRE(s.apply({{"relay.tls", ""}}, 2));
  CHECK(s.get(setting::relay_tls).empty());
  CHECK(s.get(setting::spam_action) == "tag");
}
