// What the SMTP session asks of the database, against a real MariaDB.
#include <catch2/catch.hpp>

#include "db/db_fixture.hpp"
#include "server/auth/password.hpp"
#include "server/store/mail_store.hpp"
#include "server/store/migrations.hpp"

using namespace shicks;
using namespace shicks::store;
using shicks::testing::ScratchDatabase;

namespace {
constexpr Sql kAddUser{
    "INSERT INTO users (name, password_hash, enabled, created_at) VALUES (?, ?, ?, UTC_TIMESTAMP(6))"};
constexpr Sql kAddAddress{"INSERT INTO addresses (address, domain, created_at) VALUES (?, ?, UTC_TIMESTAMP(6))"};
constexpr Sql kAddTarget{"INSERT INTO address_targets (address_id, user_id) VALUES (?, ?)"};
constexpr Sql kCount{"SELECT (SELECT COUNT(*) FROM messages), (SELECT COUNT(*) FROM mailbox_entries), "
                     "(SELECT COUNT(*) FROM relay_queue), (SELECT COUNT(*) FROM message_chunks)"};
constexpr Sql kBody{"SELECT data FROM message_chunks WHERE message_id = ? ORDER BY seq"};
constexpr Sql kEntries{"SELECT user_id, size, uidl FROM mailbox_entries WHERE message_id = ? ORDER BY user_id"};

struct Mail {
  ScratchDatabase db;
  Connection c{db.options()};
  Mail() { migrate(c, embedded_migrations()); }

  std::uint64_t user(const std::string& name, const std::string& password = "pw", bool enabled = true) {
    c.exec(kAddUser, {name, auth::hash_password(password), enabled});
    return c.last_insert_id();
  }
  void address(const std::string& addr, std::vector<std::uint64_t> users) {
    auto at = addr.find('@');
    c.exec(kAddAddress, {addr, addr.substr(at + 1)});
    auto id = c.last_insert_id();
    for (auto u : users) c.exec(kAddTarget, {id, u});
  }
};
}  // namespace

TEST_CASE("recipient lookup: exact, case, alias, catch-all, disabled, unknown, foreign", "[db]") {
  Mail m;
  auto alice = m.user("alice"), bob = m.user("bob"), carol = m.user("carol"), off = m.user("off", "pw", false);
  m.address("alice@example.org", {alice});
  m.address("team@example.org", {alice, bob, carol});
  m.address("@catch.example", {carol});
  m.address("boss@catch.example", {bob});
  m.address("gone@example.org", {off});
  m.address("half@example.org", {off, bob});

  auto r = lookup_address(m.c, "ALICE@Example.ORG", "example.org");
  CHECK(r.kind == AddressTargets::local);
  CHECK(r.user_ids == std::vector<std::uint64_t>{alice});
  CHECK(lookup_address(m.c, "team@example.org", "example.org").user_ids.size() == 3);
  CHECK(lookup_address(m.c, "anyone@catch.example", "catch.example").user_ids == std::vector<std::uint64_t>{carol});
  // An exact address shadows the catch-all.
  CHECK(lookup_address(m.c, "boss@catch.example", "catch.example").user_ids == std::vector<std::uint64_t>{bob});
  CHECK(lookup_address(m.c, "gone@example.org", "example.org").kind == AddressTargets::disabled);
  CHECK(lookup_address(m.c, "half@example.org", "example.org").user_ids == std::vector<std::uint64_t>{bob});
  CHECK(lookup_address(m.c, "nobody@example.org", "example.org").kind == AddressTargets::unknown_local);
  CHECK(lookup_address(m.c, "x@elsewhere.example", "elsewhere.example").kind == AddressTargets::foreign);
}

TEST_CASE("sender ownership: own addresses and own catch-all only", "[db]") {
  Mail m;
  auto alice = m.user("alice"), bob = m.user("bob");
  m.address("alice@example.org", {alice});
  m.address("@alice.example", {alice});
  m.address("bob@example.org", {bob});
  CHECK(sender_owned(m.c, "alice", "alice@example.org", "example.org"));
  CHECK(sender_owned(m.c, "alice", "Alice@EXAMPLE.org", "example.org"));
  CHECK(sender_owned(m.c, "alice", "anything@alice.example", "alice.example"));
  CHECK_FALSE(sender_owned(m.c, "alice", "bob@example.org", "example.org"));
  CHECK_FALSE(sender_owned(m.c, "nobody", "alice@example.org", "example.org"));
}

TEST_CASE("logins by name or by a single-user address, disabled and wrong fail alike", "[db]") {
  Mail m;
  auto alice = m.user("alice", "s3cret"), bob = m.user("bob", "pw2");
  m.user("off", "pw", false);
  m.address("alice@example.org", {alice});
  m.address("team@example.org", {alice, bob});
  auto ok = check_login(m.c, "alice", "s3cret");
  CHECK(ok.ok);
  CHECK(ok.user == "alice");
  CHECK(check_login(m.c, "alice@example.org", "s3cret").user == "alice");
  CHECK_FALSE(check_login(m.c, "team@example.org", "s3cret").ok);
  CHECK_FALSE(check_login(m.c, "alice", "wrong").ok);
  CHECK_FALSE(check_login(m.c, "off", "pw").ok);
  CHECK_FALSE(check_login(m.c, "ghost", "pw").ok);
  CHECK(m.c.query_one(Sql{"SELECT last_login_at IS NOT NULL FROM users WHERE name = 'alice'"})->i64(0) == 1);
}

TEST_CASE("delivery stores the body once, one entry per user, queue rows, in one transaction", "[db]") {
  Mail m;
  auto alice = m.user("alice"), bob = m.user("bob");
  Delivery d;
  d.envelope_from = "sender@remote.example";
  d.local_users = {alice, bob, alice};  // an alias and a direct address reaching alice twice
  d.relay_recipients = {"far@away.example"};
  d.message = "Received: x\r\nSubject: hi\r\n\r\nbody\r\n";
  d.subject = "hi";
  d.queue_id = "Q1";
  auto s = deliver(m.c, d);
  CHECK(s.queue_id == "Q1");
  auto counts = m.c.query_one(kCount);
  CHECK(counts->u64(0) == 1);
  CHECK(counts->u64(1) == 2);
  CHECK(counts->u64(2) == 1);
  auto entries = m.c.query(kEntries, {s.message_id});
  REQUIRE(entries.size() == 2);
  CHECK(entries[0].u64(1) == mailbox_size("sender@remote.example", d.message.size()));
  CHECK(entries[0].u64(1) == std::string("Return-Path: <sender@remote.example>\r\n").size() + d.message.size());
  CHECK(entries[0].str(2) != entries[1].str(2));
  CHECK(m.c.query_one(kBody, {s.message_id})->str(0) == d.message);
}

TEST_CASE("a message larger than a chunk is split and comes back byte-exact", "[db]") {
  Mail m;
  auto alice = m.user("alice");
  Delivery d;
  d.local_users = {alice};
  d.queue_id = "Q2";
  for (int i = 0; d.message.size() < 2 * kChunkBytes + 12345; ++i) d.message += "line " + std::to_string(i) + "\r\n";
  auto s = deliver(m.c, d);
  auto rows = m.c.query(kBody, {s.message_id});
  CHECK(rows.size() == 3);
  std::string back;
  for (auto& r : rows) back += r.str(0);
  CHECK(back == d.message);
}

TEST_CASE("a delivery that fails half-way leaves nothing behind", "[db]") {
  Mail m;
  auto alice = m.user("alice");
  Delivery d;
  d.local_users = {alice, 999999};  // no such user: the foreign key fails the second entry
  d.message = "x\r\n";
  d.queue_id = "Q3";
  CHECK_THROWS_AS(deliver(m.c, d), DbError);
  auto counts = m.c.query_one(kCount);
  CHECK(counts->u64(0) == 0);
  CHECK(counts->u64(1) == 0);
  CHECK(counts->u64(3) == 0);
}

TEST_CASE("accents are never ignored: jurgen is not jürgen", "[db]") {
  Mail m;
  auto j = m.user("j\xC3\xBCrgen");
  m.address("j\xC3\xBCrgen@example.org", {j});
  m.address("other@example.org", {m.user("other")});
  CHECK(lookup_address(m.c, "j\xC3\xBCrgen@example.org", "example.org").kind == AddressTargets::local);
  CHECK(lookup_address(m.c, "jurgen@example.org", "example.org").kind == AddressTargets::unknown_local);
  CHECK_FALSE(sender_owned(m.c, "j\xC3\xBCrgen", "jurgen@example.org", "example.org"));
  m.address("jurgen@example.org", {j});  // a distinct address: no unique-key clash
}
