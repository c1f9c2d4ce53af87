// The admin commands' store functions against a real MariaDB.
#include <catch2/catch.hpp>

#include "db/db_fixture.hpp"
#include "server/auth/password.hpp"
#include "server/store/admin_store.hpp"
#include "server/store/mail_store.hpp"
#include "server/store/migrations.hpp"
#include "server/store/settings_store.hpp"
#include "server/config/runtime_settings.hpp"

using namespace shicks;
using namespace shicks::store;
using shicks::testing::ScratchDatabase;

namespace {
constexpr Sql kCounts{"SELECT (SELECT COUNT(*) FROM messages), (SELECT COUNT(*) FROM message_chunks), "
                      "(SELECT COUNT(*) FROM mailbox_entries), (SELECT COUNT(*) FROM relay_queue)"};
constexpr Sql kMessageExists{"SELECT 1 FROM messages WHERE id = ?"};
constexpr Sql kHash{"SELECT password_hash FROM users WHERE name = ?"};
constexpr Sql kCounter{"SELECT value FROM change_counters WHERE name = ?"};
constexpr Sql kSettingValue{"SELECT value FROM settings WHERE name = ?"};
constexpr Sql kAddLease{
    "INSERT INTO mailbox_leases (user_id, owner, acquired_at, expires_at) SELECT id, 'pop3-test', UTC_TIMESTAMP(6), "
    "UTC_TIMESTAMP(6) + INTERVAL 10 MINUTE FROM users WHERE name = ?"};
constexpr Sql kUserId{"SELECT id FROM users WHERE name = ?"};
constexpr Sql kExpireLeases{"UPDATE mailbox_leases SET expires_at = UTC_TIMESTAMP(6) - INTERVAL 1 SECOND"};
constexpr Sql kAnyLease{"SELECT 1 FROM mailbox_leases"};
constexpr Sql kClaim{"UPDATE relay_queue SET claimed_by = 'runner', claimed_until = UTC_TIMESTAMP(6) + INTERVAL 1 HOUR, "
                     "next_attempt_at = UTC_TIMESTAMP(6) + INTERVAL 1 HOUR"};
constexpr Sql kDueNow{"SELECT COUNT(*) FROM relay_queue WHERE claimed_by IS NULL AND next_attempt_at <= UTC_TIMESTAMP(6)"};

struct Admin {
  ScratchDatabase db;
  Connection c{db.options()};
  Admin() { migrate(c, embedded_migrations()); }

  std::uint64_t id_of(const std::string& name) { return c.query_one(kUserId, {name})->u64(0); }
  std::vector<std::uint64_t> counts() {
    auto r = c.query_one(kCounts);
    return {r->u64(0), r->u64(1), r->u64(2), r->u64(3)};
  }
  bool message_exists(std::uint64_t id) { return c.query_one(kMessageExists, {id}).has_value(); }
  std::uint64_t counter(const char* name) { return c.query_one(kCounter, {name})->u64(0); }
  // A message for `users` (names) and relay `recipients`.
  std::uint64_t deliver_to(const std::vector<std::string>& users, const std::vector<std::string>& relay = {},
                           const std::string& subject = "hello") {
    Delivery d;
    d.envelope_from = "sender@remote.example";
    for (const auto& u : users) d.local_users.push_back(id_of(u));
    d.relay_recipients = relay;
    d.message = "Subject: " + subject + "\r\n\r\nbody\r\n";
    d.header_from = "Sender <sender@remote.example>";
    d.subject = subject;
    d.queue_id = "q1";
    return store::deliver(c, d).message_id;
  }
};

admin::NewUser new_user(std::string name, std::vector<std::string> addresses = {}) {
  return admin::NewUser{std::move(name), "a good password", std::move(addresses)};
}
}  // namespace

TEST_CASE("admin: users are added with addresses, listed, shown, the password is hashed", "[db]") {
  Admin a;
  auto alice = admin::add_user(a.c, new_user("alice", {"Alice@Example.ORG", "@alice.example"}));
  REQUIRE(alice);
  CHECK(alice->summary.name == "alice");
  CHECK(alice->summary.enabled);
  CHECK(alice->summary.last_login_at.empty());
  REQUIRE(alice->addresses.size() == 2);
  CHECK(alice->addresses[0].address == "@alice.example");
  CHECK(alice->addresses[1].address == "alice@example.org");
  std::string hash = a.c.query_one(kHash, {"alice"})->str(0);
  CHECK(hash.rfind("$y$", 0) == 0);
  CHECK(auth::verify_password("a good password", hash));
  // The SMTP side finds the address (case-insensitively) and the login works.
  CHECK(lookup_address(a.c, "ALICE@example.org", "example.org").kind == AddressTargets::local);
  CHECK(lookup_address(a.c, "anyone@alice.example", "alice.example").kind == AddressTargets::local);
  CHECK(check_login(a.c, "alice", "a good password").ok);

  REQUIRE(admin::add_user(a.c, new_user("bob")));
  a.deliver_to({"alice"});
  auto list = admin::list_users(a.c);
  REQUIRE(list.size() == 2);
  CHECK(list[0].name == "alice");
  CHECK(list[0].addresses == 2);
  CHECK(list[0].messages == 1);
  CHECK(list[0].mailbox_bytes > 0);
  CHECK_FALSE(list[0].last_login_at.empty());
  CHECK(list[0].last_login_at.back() == 'Z');
  CHECK(list[1].name == "bob");
  CHECK(list[1].last_login_at.empty());
  CHECK(list[1].messages == 0);

  auto shown = admin::show_user(a.c, "alice");
  REQUIRE(shown);
  CHECK(shown->summary.messages == 1);
  CHECK(admin::show_user(a.c, "nobody").error() == "no such user \"nobody\"");
}

TEST_CASE("admin: refusals are values with a reason, and nothing is half-written", "[db]") {
  Admin a;
  REQUIRE(admin::add_user(a.c, new_user("alice", {"alice@example.org"})));
  CHECK(admin::add_user(a.c, new_user("alice")).error() == "user \"alice\" exists already");
  CHECK(admin::add_user(a.c, new_user("bad name")).error().find("may only contain") != std::string::npos);
  CHECK(admin::add_user(a.c, new_user("x@y")).error().find("may only contain") != std::string::npos);
  CHECK(admin::add_user(a.c, admin::NewUser{"carol", "", {}}).error() == "the password must not be empty");
  // An address taken by someone else: carol is not created either.
  auto taken = admin::add_user(a.c, new_user("carol", {"new@example.org", "ALICE@example.org"}));
  REQUIRE_FALSE(taken);
  CHECK(taken.error() == "address alice@example.org exists already (delivers to alice)");
  CHECK_FALSE(admin::show_user(a.c, "carol"));
  CHECK(admin::list_addresses(a.c, std::nullopt)->size() == 1);
  CHECK(admin::add_user(a.c, new_user("carol", {"a@b.example", "A@B.example"})).error() ==
        "address a@b.example is given twice");
  CHECK(admin::add_user(a.c, new_user("carol", {"nope"})).error().find("not a valid address") != std::string::npos);
}

TEST_CASE("admin: passwords, enable and disable", "[db]") {
  Admin a;
  REQUIRE(admin::add_user(a.c, new_user("alice")));
  REQUIRE(admin::set_password(a.c, "alice", "another one"));
  CHECK(check_login(a.c, "alice", "another one").ok);
  CHECK_FALSE(check_login(a.c, "alice", "a good password").ok);
  CHECK(admin::set_password(a.c, "bob", "x").error() == "no such user \"bob\"");
  CHECK(admin::set_password(a.c, "alice", std::string("a\nb")).error().find("CR or LF") != std::string::npos);

  CHECK(*admin::set_enabled(a.c, "alice", false) == true);
  CHECK(*admin::set_enabled(a.c, "alice", false) == false);
  CHECK_FALSE(check_login(a.c, "alice", "another one").ok);
  CHECK(*admin::set_enabled(a.c, "alice", true) == true);
  CHECK(check_login(a.c, "alice", "another one").ok);
  CHECK(admin::set_enabled(a.c, "bob", true).error() == "no such user \"bob\"");
}

TEST_CASE("admin: addresses, aliases of several users, catch-alls", "[db]") {
  Admin a;
  REQUIRE(admin::add_user(a.c, new_user("alice", {"alice@example.org"})));
  REQUIRE(admin::add_user(a.c, new_user("bob")));
  auto team = admin::add_address(a.c, "Team@Example.org", {"bob", "alice", "bob"});
  REQUIRE(team);
  CHECK(team->address == "team@example.org");
  CHECK(team->users == std::vector<std::string>{"alice", "bob"});
  CHECK(lookup_address(a.c, "team@example.org", "example.org").user_ids.size() == 2);
  auto catch_all = admin::add_address(a.c, "@Example.net", {"bob"});
  REQUIRE(catch_all);
  CHECK(catch_all->catch_all);
  CHECK(catch_all->address == "@example.net");
  CHECK(lookup_address(a.c, "whoever@example.net", "example.net").kind == AddressTargets::local);

  CHECK(admin::add_address(a.c, "team@example.org", {"alice"}).error() ==
        "address team@example.org exists already (delivers to alice, bob)");
  CHECK(admin::add_address(a.c, "x@example.org", {"carol"}).error() == "no such user \"carol\"");
  CHECK_FALSE(admin::delete_address(a.c, "x@example.org"));
  CHECK(admin::add_address(a.c, "x@example.org", {}).error().find("at least one user") != std::string::npos);
  CHECK(admin::add_address(a.c, "a b@example.org", {"bob"}).error().find("not a valid address") != std::string::npos);
  CHECK(admin::add_address(a.c, "@", {"bob"}).error().find("catch-all") != std::string::npos);
  CHECK(admin::add_address(a.c, "x@-bad-.example", {"bob"}).error().find("not a valid address") != std::string::npos);

  auto all = admin::list_addresses(a.c, std::nullopt);
  REQUIRE(all);
  REQUIRE(all->size() == 3);
  CHECK((*all)[0].address == "@example.net");
  CHECK((*all)[2].users == std::vector<std::string>{"alice", "bob"});
  auto of_alice = admin::list_addresses(a.c, std::string("alice"));
  REQUIRE(of_alice);
  REQUIRE(of_alice->size() == 2);
  CHECK((*of_alice)[1].users == std::vector<std::string>{"alice", "bob"});  // an alias shows all its users
  CHECK(admin::list_addresses(a.c, std::string("carol")).error() == "no such user \"carol\"");

  auto gone = admin::delete_address(a.c, "TEAM@example.org");
  REQUIRE(gone);
  CHECK(gone->users == std::vector<std::string>{"alice", "bob"});
  CHECK(admin::delete_address(a.c, "team@example.org").error() == "no such address team@example.org");
  CHECK(admin::show_user(a.c, "alice")->addresses.size() == 1);
}

TEST_CASE("admin: purge deletes orphaned bodies, keeps those another user or the queue holds", "[db]") {
  Admin a;
  REQUIRE(admin::add_user(a.c, new_user("alice")));
  REQUIRE(admin::add_user(a.c, new_user("bob")));
  auto only_alice = a.deliver_to({"alice"}, {}, "only alice");
  auto shared = a.deliver_to({"alice", "bob"}, {}, "shared");
  auto queued = a.deliver_to({"alice"}, {"far@remote.example"}, "queued");
  auto only_bob = a.deliver_to({"bob"}, {}, "only bob");
  CHECK(a.counts() == std::vector<std::uint64_t>{4, 4, 5, 1});

  auto mailbox = admin::list_mailbox(a.c, "alice");
  REQUIRE(mailbox);
  REQUIRE(mailbox->size() == 3);
  CHECK((*mailbox)[0].subject == "only alice");
  CHECK((*mailbox)[0].header_from == "Sender <sender@remote.example>");
  CHECK((*mailbox)[0].envelope_from == "sender@remote.example");
  CHECK((*mailbox)[0].size == mailbox_size("sender@remote.example", std::string("Subject: only alice\r\n\r\nbody\r\n").size()));
  CHECK_FALSE((*mailbox)[0].spam);
  CHECK((*mailbox)[0].received_at.size() == 20);

  auto purged = admin::purge_mailbox(a.c, "alice");
  REQUIRE(purged);
  CHECK(purged->messages == 3);
  CHECK(purged->bodies_removed == 1);
  CHECK_FALSE(a.message_exists(only_alice));
  CHECK(a.message_exists(shared));    // bob still has it
  CHECK(a.message_exists(queued));    // the relay queue still has it
  CHECK(a.message_exists(only_bob));
  CHECK(a.counts() == std::vector<std::uint64_t>{3, 3, 2, 1});
  CHECK(admin::list_mailbox(a.c, "alice")->empty());
  CHECK(admin::purge_mailbox(a.c, "alice")->messages == 0);

  // The queue row goes: its body goes with it (nobody else holds it).
  auto q = admin::list_queue(a.c);
  REQUIRE(q.size() == 1);
  CHECK(q[0].recipient == "far@remote.example");
  CHECK(q[0].subject == "queued");
  auto del = admin::delete_queue(a.c, q[0].id);
  REQUIRE(del);
  CHECK(del->body_removed);
  CHECK_FALSE(a.message_exists(queued));
  CHECK(admin::delete_queue(a.c, q[0].id).error() == "no queue entry " + std::to_string(q[0].id));

  // Deleting bob takes the last holder of `shared`.
  auto bob = admin::delete_user(a.c, "bob");
  REQUIRE(bob);
  CHECK(bob->messages_removed == 2);
  CHECK(bob->bodies_removed == 2);
  CHECK(a.counts() == std::vector<std::uint64_t>{0, 0, 0, 0});
  CHECK(admin::list_mailbox(a.c, "bob").error() == "no such user \"bob\"");
  CHECK(admin::purge_mailbox(a.c, "bob").error() == "no such user \"bob\"");
}

TEST_CASE("admin: a mailbox held by a POP3 session is not purged", "[db]") {
  Admin a;
  REQUIRE(admin::add_user(a.c, new_user("alice")));
  a.deliver_to({"alice"});
  a.c.exec(kAddLease, {"alice"});
  auto r = admin::purge_mailbox(a.c, "alice");
  REQUIRE_FALSE(r);
  CHECK(r.error().find("POP3") != std::string::npos);
  CHECK(admin::list_mailbox(a.c, "alice")->size() == 1);
}

TEST_CASE("admin: a user whose mailbox a POP3 session holds is not deleted", "[db]") {
  Admin a;
  REQUIRE(admin::add_user(a.c, new_user("alice", {"alice@example.org"})));
  a.deliver_to({"alice"});
  a.c.exec(kAddLease, {"alice"});
  auto r = admin::delete_user(a.c, "alice");
  REQUIRE_FALSE(r);
  CHECK(r.error() == "the mailbox of \"alice\" is open in a POP3 session; try again when it ends");
  CHECK(admin::list_mailbox(a.c, "alice")->size() == 1);  // nothing was removed
  CHECK(admin::show_user(a.c, "alice"));
  // An expired lease (its daemon died) does not hold the user: it goes with the user.
  a.c.exec(kExpireLeases);
  auto d = admin::delete_user(a.c, "alice");
  REQUIRE(d);
  CHECK(d->messages_removed == 1);
  CHECK_FALSE(a.c.query_one(kAnyLease));
}

TEST_CASE("admin: deleting a user removes the addresses only they had, keeps shared aliases", "[db]") {
  Admin a;
  REQUIRE(admin::add_user(a.c, new_user("alice", {"alice@example.org", "@alice.example"})));
  REQUIRE(admin::add_user(a.c, new_user("bob", {"bob@example.org"})));
  REQUIRE(admin::add_address(a.c, "team@example.org", {"alice", "bob"}));
  auto d = admin::delete_user(a.c, "alice");
  REQUIRE(d);
  CHECK(d->addresses_removed == std::vector<std::string>{"@alice.example", "alice@example.org"});
  auto all = admin::list_addresses(a.c, std::nullopt);
  REQUIRE(all->size() == 2);
  CHECK((*all)[1].address == "team@example.org");
  CHECK((*all)[1].users == std::vector<std::string>{"bob"});
  CHECK(admin::delete_user(a.c, "alice").error() == "no such user \"alice\"");
  CHECK(lookup_address(a.c, "alice@example.org", "example.org").kind == AddressTargets::unknown_local);
}

TEST_CASE("admin: settings are validated, secrets hidden, the change counter bumped", "[db]") {
  Admin a;
  write_default_settings(a.c);
  auto before = a.counter("settings");
  auto all = admin::list_settings(a.c);
  CHECK(all.size() == config::runtime_settings().size());
  auto set = admin::set_setting(a.c, "spam.action", "reject");
  REQUIRE(set);
  CHECK(set->value == "reject");
  CHECK(a.counter("settings") == before + 1);
  CHECK(admin::get_setting(a.c, "spam.action")->value == "reject");
  CHECK(admin::set_setting(a.c, "spam.action", "delete").error() == "spam.action must be one of tag, reject, off");
  CHECK(admin::set_setting(a.c, "no.such", "1").error().find("unknown setting no.such") == 0);
  CHECK(admin::get_setting(a.c, "no.such").error().find("unknown setting no.such") == 0);
  CHECK(admin::set_setting(a.c, "relay.password", "x").error().find("secret") != std::string::npos);
  CHECK(a.counter("settings") == before + 1);

  // The relay: the password is stored for the daemon, never returned.
  admin::RelayUpdate u;
  u.host = "smart.example";
  u.port = "587";
  u.password = "relay secret";
  CHECK(admin::set_relay(a.c, u).error() == "a relay password needs a relay username (--username)");
  u.username = "me";
  auto relay = admin::set_relay(a.c, u);
  REQUIRE(relay);
  CHECK(a.c.query_one(kSettingValue, {"relay.password"})->str(0) == "relay secret");
  bool saw_password = false;
  for (const auto& s : *relay) {
    CHECK(s.name.rfind("relay.", 0) == 0);
    if (s.name == "relay.password") {
      saw_password = true;
      CHECK(s.secret);
      CHECK(s.is_set);
      CHECK(s.value.empty());
    }
    if (s.name == "relay.port") CHECK(s.value == "587");
  }
  CHECK(saw_password);
  CHECK(admin::get_setting(a.c, "relay.password")->value.empty());
  CHECK(admin::get_setting(a.c, "relay.password")->is_set);
  // Only what is given changes.
  admin::RelayUpdate host_only;
  host_only.host = "other.example";
  REQUIRE(admin::set_relay(a.c, host_only));
  CHECK(admin::get_setting(a.c, "relay.port")->value == "587");
  CHECK(admin::get_setting(a.c, "relay.password")->is_set);
  admin::RelayUpdate bad;
  bad.host = "other.example";
  bad.tls = "ssl";
  CHECK(admin::set_relay(a.c, bad).error() == "relay.tls must be one of none, starttls, tls");
  bad.tls.reset();
  bad.host = "";
  CHECK(admin::set_relay(a.c, bad).error().find("needs a host") != std::string::npos);

  auto cleared = admin::clear_relay(a.c);
  CHECK(admin::get_setting(a.c, "relay.host")->value.empty());
  CHECK(admin::get_setting(a.c, "relay.port")->value == "25");
  CHECK_FALSE(admin::get_setting(a.c, "relay.password")->is_set);
  CHECK(a.c.query_one(kSettingValue, {"relay.password"})->str(0).empty());
}

TEST_CASE("admin: relay settings that would send the password without TLS are refused, as a whole", "[db]") {
  Admin a;
  write_default_settings(a.c);
  const std::string why = config::plaintext_auth_refusal("smart.example");
  admin::RelayUpdate u;
  u.host = "smart.example";
  u.tls = "none";
  u.username = "me";
  u.password = "relay secret";
  auto before = a.counter("settings");
  CHECK(admin::set_relay(a.c, u).error() == why);
  CHECK(admin::get_setting(a.c, "relay.host")->value.empty());  // nothing written
  CHECK(a.counter("settings") == before);
  // Allowed for a relay on a trusted network; then every relay set must say so again.
  u.allow_plaintext_auth = "true";
  REQUIRE(admin::set_relay(a.c, u));
  CHECK(admin::get_setting(a.c, "relay.allow_plaintext_auth")->value == "true");
  admin::RelayUpdate port_only;
  port_only.host = "smart.example";
  port_only.port = "2525";
  CHECK(admin::set_relay(a.c, port_only).error() == why);
  CHECK(admin::get_setting(a.c, "relay.port")->value == "25");
  // config set: each key is checked against the others as stored.
  CHECK(admin::set_setting(a.c, "relay.allow_plaintext_auth", "false").error() == why);
  REQUIRE(admin::set_setting(a.c, "relay.tls", "starttls"));
  REQUIRE(admin::set_setting(a.c, "relay.allow_plaintext_auth", "false"));
  CHECK(admin::set_setting(a.c, "relay.tls", "none").error() == why);
  REQUIRE(admin::set_setting(a.c, "relay.host", "127.0.0.1"));  // loopback: no permission needed
  REQUIRE(admin::set_setting(a.c, "relay.tls", "none"));
  CHECK(admin::set_setting(a.c, "relay.host", "smart.example").error() == why);
  REQUIRE(admin::set_setting(a.c, "relay.username", ""));
  REQUIRE(admin::set_setting(a.c, "relay.host", "smart.example"));
  CHECK(admin::set_setting(a.c, "relay.username", "me").error() == why);
  // A loopback relay with relay set; clear forgets the permission.
  admin::RelayUpdate local;
  local.host = "localhost";
  local.tls = "none";
  local.username = "me";
  local.password = "relay secret";
  REQUIRE(admin::set_relay(a.c, local));
  REQUIRE(admin::set_setting(a.c, "relay.allow_plaintext_auth", "true"));
  admin::clear_relay(a.c);
  CHECK(admin::get_setting(a.c, "relay.allow_plaintext_auth")->value == "false");
}

TEST_CASE("admin: spam keywords", "[db]") {
  Admin a;
  auto before = a.counter("spam_keywords");
  auto added = admin::add_keywords(a.c, {" viagra ", "Casino"});
  REQUIRE(added);
  CHECK(*added == std::vector<std::string>{"viagra", "Casino"});
  CHECK(a.counter("spam_keywords") == before + 1);
  CHECK(admin::add_keywords(a.c, {"lottery", "VIAGRA"}).error() ==
        "spam keyword \"VIAGRA\" exists already as \"viagra\" (keywords match regardless of case)");
  CHECK(admin::add_keywords(a.c, {"prize", "Prize"}).error() == "spam keyword \"Prize\" exists already as \"prize\" (keywords match regardless of case)");
  CHECK(admin::add_keywords(a.c, {"   "}).error() == "a spam keyword must not be empty");
  CHECK(admin::add_keywords(a.c, {}).error() == "no spam keyword given");
  CHECK(admin::list_keywords(a.c).size() == 2);  // "lottery" and "prize" were rolled back

  auto imported = admin::import_keywords(a.c, {"casino", "lottery", "prize", "lottery"});
  REQUIRE(imported);
  CHECK(imported->added == 2);
  CHECK(imported->present == 2);
  auto list = admin::list_keywords(a.c);
  REQUIRE(list.size() == 4);
  CHECK(list[0].keyword == "Casino");
  CHECK(list[0].hits == 0);
  CHECK(list[0].last_hit_at.empty());

  CHECK(admin::delete_keywords(a.c, {"CASINO"})->front() == "Casino");
  CHECK(admin::delete_keywords(a.c, {"casino"}).error() == "no such spam keyword \"casino\"");
  CHECK(admin::list_keywords(a.c).size() == 3);
}

TEST_CASE("admin: queue show and delete, claims shown, body kept until the last row", "[db]") {
  Admin a;
  REQUIRE(admin::add_user(a.c, new_user("alice")));
  a.deliver_to({}, {"one@remote.example", "two@remote.example"});
  a.c.exec(kClaim);
  CHECK(a.c.query_one(kDueNow)->u64(0) == 0);
  auto q = admin::list_queue(a.c);
  REQUIRE(q.size() == 2);
  CHECK(q[0].claimed_by == "runner");
  auto one = admin::show_queue(a.c, q[1].id);
  REQUIRE(one);
  CHECK(one->recipient == "two@remote.example");
  CHECK(one->claimed_by == "runner");
  CHECK(admin::show_queue(a.c, 999999).error() == "no queue entry 999999");
  // Two rows share the body: deleting one keeps it.
  auto del = admin::delete_queue(a.c, q[0].id);
  REQUIRE(del);
  CHECK_FALSE(del->body_removed);
  CHECK(admin::delete_queue(a.c, q[1].id)->body_removed);
  CHECK(admin::queue_length(a.c) == 0);
}
