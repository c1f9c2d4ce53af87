// What the POP3 session asks of the database, against a real MariaDB: the maildrop
// lease, the snapshot, chunked retrieval and the UPDATE-state deletions.
#include <catch2/catch.hpp>

#include <algorithm>

#include "db/db_fixture.hpp"
#include "server/store/mail_store.hpp"
#include "server/store/migrations.hpp"
#include "server/store/pop3_store.hpp"

using namespace shicks;
using namespace shicks::store;
using shicks::testing::ScratchDatabase;

namespace {
constexpr Sql kAddUser{
    "INSERT INTO users (name, password_hash, enabled, created_at) VALUES (?, 'x', 1, UTC_TIMESTAMP(6))"};
constexpr Sql kExpireLeases{"UPDATE mailbox_leases SET expires_at = UTC_TIMESTAMP(6) - INTERVAL 1 SECOND"};
constexpr Sql kLease{"SELECT owner FROM mailbox_leases WHERE user_id = ?"};
constexpr Sql kMessageCount{"SELECT COUNT(*), (SELECT COUNT(*) FROM message_chunks) FROM messages"};
constexpr Sql kEntryCount{"SELECT COUNT(*) FROM mailbox_entries WHERE user_id = ?"};
constexpr Sql kLeaseLeft{
    "SELECT TIMESTAMPDIFF(SECOND, UTC_TIMESTAMP(6), expires_at) FROM mailbox_leases WHERE user_id = ?"};
constexpr Sql kLeaseCount{"SELECT COUNT(*) FROM mailbox_leases"};

struct Drop {
  ScratchDatabase db;
  Connection c{db.options()};
  Drop() { migrate(c, embedded_migrations()); }

  std::uint64_t user(const std::string& name) {
    c.exec(kAddUser, {name});
    return c.last_insert_id();
  }
  std::uint64_t deliver_to(std::vector<std::uint64_t> users, std::string body, std::vector<std::string> relay = {}) {
    Delivery d;
    d.envelope_from = "sender@example.net";
    d.local_users = std::move(users);
    d.relay_recipients = std::move(relay);
    d.message = std::move(body);
    return deliver(c, d).message_id;
  }
  std::uint64_t count(const Sql& q, std::initializer_list<Param> p = {}, std::size_t col = 0) {
    return c.query_one(q, p)->u64(col);
  }
};

std::string retrieve_all(Connection& c, std::uint64_t user, std::uint64_t entry) {
  auto s = read_message_start(c, user, entry);
  REQUIRE(s.found);
  std::string out = s.first_chunk;
  for (std::uint32_t seq = 1; seq < s.chunk_count; ++seq) out += read_message_chunk(c, s.message_id, seq);
  return out;
}
}  // namespace

TEST_CASE("maildrop leases of one daemon: renewed and listed by owner prefix, voided by prefix", "[db]") {
  Drop d;
  auto alice = d.user("alice"), bob = d.user("bob"), carol = d.user("carol"), dave = d.user("dave");
  REQUIRE_FALSE(open_maildrop(d.c, alice, "mx1/abcd/100/p1/00000001", 5).in_use);
  REQUIRE_FALSE(open_maildrop(d.c, bob, "mx1/abcd/100/p2/00000002", 5).in_use);
  REQUIRE_FALSE(open_maildrop(d.c, carol, "mx1/abcd/99/p1/00000003", 5).in_use);   // an earlier run
  REQUIRE_FALSE(open_maildrop(d.c, dave, "mx2/abcd/100/p1/00000004", 5).in_use);  // another daemon

  auto held = renew_leases(d.c, "mx1/abcd/100/", 600);
  REQUIRE(held.size() == 2);
  std::sort(held.begin(), held.end(), [](const HeldLease& a, const HeldLease& b) { return a.user_id < b.user_id; });
  CHECK(held[0].user_id == alice);
  CHECK(held[0].owner == "mx1/abcd/100/p1/00000001");
  CHECK(held[1].user_id == bob);
  CHECK(d.count(kLeaseLeft, {alice}) >= 590);
  CHECK(d.count(kLeaseLeft, {bob}) >= 590);
  CHECK(d.count(kLeaseLeft, {carol}) <= 5);  // not this run's
  CHECK(d.count(kLeaseLeft, {dave}) <= 5);   // not this daemon's

  // An expired lease that nobody took is still ours: renewed.
  d.c.exec(kExpireLeases);
  CHECK(renew_leases(d.c, "mx1/abcd/100/", 600).size() == 2);
  CHECK(d.count(kLeaseLeft, {alice}) >= 590);
  // One that was taken is not listed (its session has lost it).
  REQUIRE_FALSE(open_maildrop(d.c, carol, "mx2/abcd/100/p9/00000009", 5).in_use);  // carol's had expired
  release_lease(d.c, bob, "mx1/abcd/100/p2/00000002");
  REQUIRE_FALSE(open_maildrop(d.c, bob, "mx2/abcd/100/p7/00000007", 5).in_use);
  held = renew_leases(d.c, "mx1/abcd/100/", 600);
  REQUIRE(held.size() == 1);
  CHECK(held[0].user_id == alice);

  // At start: every run of the daemon "mx1/abcd/" goes, nobody else's.
  CHECK(release_leases(d.c, "mx1/abcd/") == 1);
  CHECK(d.count(kLeaseCount) == 3);
  CHECK(release_leases(d.c, "mx1/abcd/") == 0);
  CHECK(renew_leases(d.c, "mx1/abcd/100/", 600).empty());
}

TEST_CASE("maildrop lease: exclusive, renewable, released, replaced when expired", "[db]") {
  Drop d;
  auto alice = d.user("alice"), bob = d.user("bob");
  d.deliver_to({alice}, "Subject: a\r\n\r\nx\r\n");

  auto first = open_maildrop(d.c, alice, "one", 600);
  CHECK_FALSE(first.in_use);
  CHECK(first.messages.size() == 1);
  CHECK(open_maildrop(d.c, alice, "two", 600).in_use);
  CHECK_FALSE(open_maildrop(d.c, bob, "two", 600).in_use);  // another user's maildrop is free

  CHECK(renew_lease(d.c, alice, "one", 600));
  CHECK_FALSE(renew_lease(d.c, alice, "two", 600));
  release_lease(d.c, alice, "two");  // not the owner: no effect
  CHECK(d.c.query_one(kLease, {alice})->str(0) == "one");
  release_lease(d.c, alice, "one");
  CHECK_FALSE(d.c.query_one(kLease, {alice}));
  CHECK_FALSE(open_maildrop(d.c, alice, "two", 600).in_use);

  // A lease nobody renews (its daemon died) is taken over once it has expired.
  d.c.exec(kExpireLeases);
  CHECK_FALSE(renew_lease(d.c, alice, "three", 600));
  auto taken = open_maildrop(d.c, alice, "three", 600);
  CHECK_FALSE(taken.in_use);
  CHECK(d.c.query_one(kLease, {alice})->str(0) == "three");
  CHECK_FALSE(renew_lease(d.c, alice, "two", 600));  // the old owner has lost it
}

TEST_CASE("maildrop snapshot: sizes include Return-Path, UIDLs unique, order of arrival", "[db]") {
  Drop d;
  auto alice = d.user("alice");
  std::string b1 = "Subject: one\r\n\r\n1\r\n", b2 = "Subject: two\r\n\r\n22\r\n";
  d.deliver_to({alice}, b1);
  d.deliver_to({alice}, b2);
  auto m = open_maildrop(d.c, alice, "o", 600);
  REQUIRE(m.messages.size() == 2);
  CHECK(m.messages[0].entry_id < m.messages[1].entry_id);
  CHECK(m.messages[0].size == mailbox_size("sender@example.net", b1.size()));
  CHECK(m.messages[1].size == mailbox_size("sender@example.net", b2.size()));
  CHECK(m.messages[0].uidl != m.messages[1].uidl);
  CHECK(retrieve_all(d.c, alice, m.messages[1].entry_id) == b2);
}

TEST_CASE("retrieval reads a multi-chunk body in order and only the user's own entries", "[db]") {
  Drop d;
  auto alice = d.user("alice"), bob = d.user("bob");
  std::string big = "Subject: big\r\n\r\n";
  while (big.size() < 3 * kChunkBytes + 12345) big += "0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrst\r\n";
  d.deliver_to({alice}, big);
  auto m = open_maildrop(d.c, alice, "o", 600);
  REQUIRE(m.messages.size() == 1);
  auto s = read_message_start(d.c, alice, m.messages[0].entry_id);
  CHECK(s.chunk_count == 4);
  CHECK(s.first_chunk.size() == kChunkBytes);
  CHECK(retrieve_all(d.c, alice, m.messages[0].entry_id) == big);
  CHECK_FALSE(read_message_start(d.c, bob, m.messages[0].entry_id).found);
  CHECK_THROWS_AS(read_message_chunk(d.c, s.message_id, 99), DbError);
}

TEST_CASE("batched message starts: order kept, chunks byte-exact, a gone entry not found", "[db]") {
  Drop d;
  auto alice = d.user("alice"), bob = d.user("bob");
  // Every byte value, so a conversion anywhere would show.
  std::string binary = "Subject: bytes\r\n\r\n";
  for (int i = 0; i < 256; ++i) binary += char(i);
  binary += "\r\n";
  std::string big = "Subject: big\r\n\r\n";
  while (big.size() < 2 * kChunkBytes + 777) big += "0123456789abcdefghijklmnopqrstuvwxyz\r\n";
  std::string exact(kChunkBytes, 'x');  // exactly one full chunk
  std::vector<std::string> bodies = {"Subject: a\r\n\r\n1\r\n", big, "", binary, exact, ".dot\r\n..two\r\n"};
  for (const auto& b : bodies) d.deliver_to({alice}, b);
  d.deliver_to({bob}, "Subject: bob's\r\n\r\nnot alice's\r\n");
  auto m = open_maildrop(d.c, alice, "o", 600);
  REQUIRE(m.messages.size() == bodies.size());
  auto mb = open_maildrop(d.c, bob, "b", 600);
  REQUIRE(mb.messages.size() == 1);

  auto check = [&](const MessageStart& s, std::size_t i) {
    INFO("body " << i);
    REQUIRE(s.found);
    CHECK(s.envelope_from == "sender@example.net");
    CHECK(s.chunk_count == std::max<std::size_t>(1, (bodies[i].size() + kChunkBytes - 1) / kChunkBytes));
    CHECK(s.first_chunk == bodies[i].substr(0, kChunkBytes));
    std::string whole = s.first_chunk;
    for (std::uint32_t seq = 1; seq < s.chunk_count; ++seq) whole += read_message_chunk(d.c, s.message_id, seq);
    CHECK(whole == bodies[i]);
  };

  // Out of arrival order, with an entry that is gone and one of another user.
  const std::uint64_t gone = m.messages.back().entry_id + 1000;
  std::vector<std::uint64_t> ids{m.messages[3].entry_id, m.messages[1].entry_id, gone,          m.messages[0].entry_id,
                                 mb.messages[0].entry_id, m.messages[5].entry_id, m.messages[2].entry_id,
                                 m.messages[4].entry_id};
  auto starts = read_message_starts(d.c, alice, ids);
  REQUIRE(starts.size() == ids.size());
  check(starts[0], 3);
  check(starts[1], 1);
  CHECK_FALSE(starts[2].found);
  CHECK(starts[2].first_chunk.empty());
  check(starts[3], 0);
  CHECK_FALSE(starts[4].found);  // bob's entry is not alice's to read
  check(starts[5], 5);
  check(starts[6], 2);  // the empty body: one empty chunk
  CHECK(starts[6].first_chunk.empty());
  check(starts[7], 4);

  // One id alone (the padded places repeat it), an id asked for twice, none at all.
  auto one = read_message_starts(d.c, alice, {m.messages[5].entry_id});
  REQUIRE(one.size() == 1);
  check(one[0], 5);
  CHECK(read_message_start(d.c, alice, m.messages[0].entry_id).first_chunk == bodies[0]);
  auto twice = read_message_starts(d.c, alice, {m.messages[0].entry_id, m.messages[3].entry_id, m.messages[0].entry_id});
  REQUIRE(twice.size() == 3);
  check(twice[0], 0);
  check(twice[1], 3);
  check(twice[2], 0);
  CHECK(read_message_starts(d.c, alice, {}).empty());
}

TEST_CASE("batched message starts: more ids than one statement takes", "[db]") {
  Drop d;
  auto alice = d.user("alice");
  const std::size_t n = kMessageStartsPerQuery * 2 + 5;
  for (std::size_t i = 0; i < n; ++i) d.deliver_to({alice}, "Subject: m" + std::to_string(i) + "\r\n\r\nbody\r\n");
  auto m = open_maildrop(d.c, alice, "o", 600);
  REQUIRE(m.messages.size() == n);
  std::vector<std::uint64_t> ids;
  for (std::size_t i = n; i-- > 0;) ids.push_back(m.messages[i].entry_id);  // newest first
  auto starts = read_message_starts(d.c, alice, ids);
  REQUIRE(starts.size() == n);
  for (std::size_t k = 0; k < n; ++k) {
    INFO("position " << k);
    REQUIRE(starts[k].found);
    CHECK(starts[k].first_chunk == "Subject: m" + std::to_string(n - 1 - k) + "\r\n\r\nbody\r\n");
  }
}

TEST_CASE("QUIT deletions: entries go, bodies go with their last reference, lease released", "[db]") {
  Drop d;
  auto alice = d.user("alice"), bob = d.user("bob");
  auto own = d.deliver_to({alice}, "Subject: own\r\n\r\n1\r\n");
  d.deliver_to({alice, bob}, "Subject: shared\r\n\r\n2\r\n");
  d.deliver_to({alice}, "Subject: relayed too\r\n\r\n3\r\n", {"far@example.com"});
  d.deliver_to({alice}, "Subject: kept\r\n\r\n4\r\n");
  (void)own;
  auto m = open_maildrop(d.c, alice, "o", 600);
  REQUIRE(m.messages.size() == 4);
  std::vector<std::uint64_t> ids{m.messages[0].entry_id, m.messages[1].entry_id, m.messages[2].entry_id};

  auto r = commit_deletions(d.c, alice, "o", ids);
  CHECK_FALSE(r.lease_lost);
  CHECK(r.entries_deleted == 3);
  CHECK(r.bodies_deleted == 1);  // "shared" is still bob's, "relayed too" still queued
  CHECK(d.count(kEntryCount, {alice}) == 1);
  CHECK(d.count(kEntryCount, {bob}) == 1);
  CHECK(d.count(kMessageCount) == 3);
  CHECK(d.count(kMessageCount, {}, 1) == 3);
  CHECK_FALSE(d.c.query_one(kLease, {alice}));

  // Bob deletes the shared one: now its body goes too.
  auto mb = open_maildrop(d.c, bob, "b", 600);
  REQUIRE(mb.messages.size() == 1);
  std::vector<std::uint64_t> bob_ids{mb.messages[0].entry_id};
  CHECK(commit_deletions(d.c, bob, "b", bob_ids).bodies_deleted == 1);
  CHECK(d.count(kMessageCount) == 2);
}

TEST_CASE("QUIT deletions change nothing when the lease was lost", "[db]") {
  Drop d;
  auto alice = d.user("alice");
  d.deliver_to({alice}, "Subject: a\r\n\r\n1\r\n");
  auto m = open_maildrop(d.c, alice, "old", 600);
  d.c.exec(kExpireLeases);
  CHECK_FALSE(open_maildrop(d.c, alice, "new", 600).in_use);
  std::vector<std::uint64_t> ids{m.messages[0].entry_id};
  auto r = commit_deletions(d.c, alice, "old", ids);
  CHECK(r.lease_lost);
  CHECK(r.entries_deleted == 0);
  CHECK(d.count(kEntryCount, {alice}) == 1);
  CHECK(d.c.query_one(kLease, {alice})->str(0) == "new");
  CHECK_FALSE(open_maildrop(d.c, d.user("bob"), "z", 600).in_use);  // the connection is usable: no transaction left open
}
