// Group commit of accepted messages (store::deliver_batch, store::DeliveryBatcher)
// against a real MariaDB: the rows are those deliver() writes, a refused batch is
// retried one delivery at a time, and every completion comes after its COMMIT.
#include <catch2/catch.hpp>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "db/db_fixture.hpp"
#include "server/auth/password.hpp"
#include "server/store/db_pool.hpp"
#include "server/store/delivery_batcher.hpp"
#include "server/store/mail_store.hpp"
#include "server/store/migrations.hpp"

using namespace shicks;
using namespace shicks::store;
using shicks::testing::ScratchDatabase;

namespace {
constexpr Sql kAddUser{
    "INSERT INTO users (name, password_hash, enabled, created_at) VALUES (?, ?, 1, UTC_TIMESTAMP(6))"};
constexpr Sql kAddKeyword{"INSERT INTO spam_keywords (keyword, created_at) VALUES (?, UTC_TIMESTAMP(6))"};
constexpr Sql kMessage{
    "SELECT size, chunk_count, envelope_from, header_from, subject, spam, spam_keyword FROM messages WHERE id = ?"};
constexpr Sql kBody{"SELECT data FROM message_chunks WHERE message_id = ? ORDER BY seq"};
constexpr Sql kEntries{"SELECT user_id, size, uidl FROM mailbox_entries WHERE message_id = ? ORDER BY user_id"};
constexpr Sql kQueue{"SELECT sender, recipient FROM relay_queue WHERE message_id = ? ORDER BY recipient"};
constexpr Sql kHits{"SELECT hits FROM spam_keywords WHERE keyword = ?"};
constexpr Sql kCount{"SELECT (SELECT COUNT(*) FROM messages), (SELECT COUNT(*) FROM mailbox_entries), "
                     "(SELECT COUNT(*) FROM message_chunks), (SELECT COUNT(*) FROM relay_queue)"};

struct Db {
  ScratchDatabase db;
  Connection c{db.options()};
  Db() { migrate(c, embedded_migrations()); }
  std::uint64_t user(const std::string& name) {
    c.exec(kAddUser, {name, auth::hash_password("pw")});
    return c.last_insert_id();
  }
  std::string body(std::uint64_t id) {
    std::string out;
    for (auto& r : c.query(kBody, {id})) out += r.str(0);
    return out;
  }
};

// Every byte value, quotes, backslashes and NULs: what the script's quoting must keep.
std::string awkward_bytes() {
  std::string s = "Subject: it's a \"test\" \\ of 'quoting'\r\n\r\n";
  for (int i = 0; i < 256; ++i) s.push_back(char(i));
  s += "\r\n\\0 \\' '' \\\\ ;COMMIT; DROP TABLE messages;\r\n";
  return s;
}
}  // namespace

TEST_CASE("a delivery batch writes the rows deliver() writes, for every message", "[db]") {
  Db m;
  auto alice = m.user("alice"), bob = m.user("bob");
  m.c.exec(kAddKeyword, {"viagra"});
  std::vector<Delivery> ds(4);
  ds[0].envelope_from = "o'brien@remote.example";
  ds[0].local_users = {alice, bob, alice};
  ds[0].relay_recipients = {"far@away.example", "near@away.example"};
  ds[0].message = awkward_bytes();
  ds[0].header_from = "O'Brien <o'brien@remote.example>";
  ds[0].subject = "it's \"quoted\" \\ and caf\xC3\xA9";
  ds[0].queue_id = "B0";
  ds[1].local_users = {bob};  // the null sender
  ds[1].message = "";         // an empty message still has one (empty) chunk
  ds[1].queue_id = "B1";
  ds[2].envelope_from = "s@x.example";
  ds[2].relay_recipients = {"only@relay.example"};  // relay only, no mailbox
  ds[2].message = "Subject: x\r\n\r\nrelayed\r\n";
  ds[2].queue_id = "B2";
  ds[3].envelope_from = "spam@x.example";
  ds[3].local_users = {alice};
  ds[3].spam_keyword = "viagra";
  for (int i = 0; ds[3].message.size() < kChunkBytes + 1000; ++i) ds[3].message += "line " + std::to_string(i) + "\r\n";
  ds[3].queue_id = "B3";

  std::vector<const Delivery*> ptrs;
  for (auto& d : ds) ptrs.push_back(&d);
  auto stored = deliver_batch(m.c, ptrs);
  REQUIRE(stored.size() == 4);
  for (std::size_t i = 0; i < 4; ++i) {
    CHECK(stored[i].queue_id == ds[i].queue_id);
    CHECK(stored[i].message_id != 0);
    CHECK(m.body(stored[i].message_id) == ds[i].message);
    auto msg = m.c.query_one(kMessage, {stored[i].message_id});
    REQUIRE(msg);
    CHECK(msg->u64(0) == ds[i].message.size());
    CHECK(msg->str(2) == ds[i].envelope_from);
    CHECK(msg->str(3) == ds[i].header_from);
    CHECK(msg->str(4) == ds[i].subject);
  }
  CHECK(m.c.query(kBody, {stored[3].message_id}).size() == 2);  // split into chunks like deliver()
  CHECK(m.c.query_one(kMessage, {stored[3].message_id})->u64(1) == 2);
  CHECK(m.c.query_one(kMessage, {stored[3].message_id})->i64(5) == 1);
  CHECK(m.c.query_one(kMessage, {stored[3].message_id})->str(6) == "viagra");
  CHECK(m.c.query_one(kHits, {"viagra"})->u64(0) == 1);
  CHECK(m.c.query_one(kMessage, {stored[0].message_id})->i64(5) == 0);

  // Entries: one per distinct user, the POP3 size, UIDLs as deliver() makes them.
  auto e0 = m.c.query(kEntries, {stored[0].message_id});
  REQUIRE(e0.size() == 2);
  CHECK(e0[0].u64(0) == alice);
  CHECK(e0[1].u64(0) == bob);
  CHECK(e0[0].u64(1) == mailbox_size(ds[0].envelope_from, ds[0].message.size()));
  std::string prefix = fmt::format("{:x}.{:x}.", stored[0].message_id, alice);
  CHECK(e0[0].str(2).rfind(prefix, 0) == 0);
  CHECK(e0[0].str(2).size() == prefix.size() + 12);
  CHECK(e0[0].str(2) != e0[1].str(2));
  CHECK(m.c.query(kEntries, {stored[1].message_id}).front().u64(1) ==
        mailbox_size("", 0));
  CHECK(m.c.query(kEntries, {stored[2].message_id}).empty());

  auto q0 = m.c.query(kQueue, {stored[0].message_id});
  REQUIRE(q0.size() == 2);
  CHECK(q0[0].str(0) == "o'brien@remote.example");
  CHECK(q0[0].str(1) == "far@away.example");
  CHECK(q0[1].str(1) == "near@away.example");
  CHECK(m.c.query(kQueue, {stored[2].message_id}).size() == 1);

  auto n = m.c.query_one(kCount);
  CHECK(n->u64(0) == 4);
  CHECK(n->u64(1) == 4);
  CHECK(n->u64(2) == 5);
  CHECK(n->u64(3) == 3);
}

TEST_CASE("a refused delivery batch leaves nothing behind and the connection usable", "[db]") {
  Db m;
  auto alice = m.user("alice");
  Delivery good, bad;
  good.local_users = {alice};
  good.message = "good\r\n";
  bad.local_users = {999999};  // no such user: the foreign key refuses the entry
  bad.message = "bad\r\n";
  std::vector<const Delivery*> batch{&good, &bad};
  CHECK_THROWS_AS(deliver_batch(m.c, batch), DbError);
  auto n = m.c.query_one(kCount);
  CHECK(n->u64(0) == 0);
  CHECK(n->u64(1) == 0);
  CHECK(n->u64(2) == 0);
  // The next transaction on this connection is a fresh one.
  std::vector<const Delivery*> ok{&good};
  CHECK(deliver_batch(m.c, ok).size() == 1);
  CHECK(m.c.query_one(kCount)->u64(0) == 1);
}

TEST_CASE("the batcher completes every delivery after its commit, and a bad one fails alone", "[db]") {
  Db m;
  auto alice = m.user("alice");
  DbPool pool(m.db.options(), 2, 1024);
  DeliveryBatcher batcher(pool, 16);

  constexpr int kMessages = 200;
  std::mutex mu;
  std::condition_variable cv;
  int done = 0, failed = 0;
  std::vector<std::uint64_t> ids(kMessages, 0);
  std::vector<std::thread> senders;
  for (int t = 0; t < 8; ++t) {
    senders.emplace_back([&, t] {
      for (int i = t; i < kMessages; i += 8) {
        Delivery d;
        d.local_users = {i == 77 ? 999999u : alice};  // one delivery the database refuses
        d.message = "message " + std::to_string(i) + "\r\n";
        d.queue_id = "Q" + std::to_string(i);
        batcher.submit(std::move(d), [&, i](DbResult<Stored> r) {
          std::lock_guard lock(mu);
          if (r) {
            CHECK(r->queue_id == "Q" + std::to_string(i));
            ids[i] = r->message_id;
          } else {
            ++failed;
            CHECK_FALSE(r.error().outcome_unknown);
          }
          ++done;
          cv.notify_all();
        });
      }
    });
  }
  for (auto& t : senders) t.join();
  {
    std::unique_lock lock(mu);
    REQUIRE(cv.wait_for(lock, std::chrono::seconds(60), [&] { return done == kMessages; }));
  }
  pool.stop();
  CHECK(failed == 1);
  CHECK(ids[77] == 0);
  for (int i = 0; i < kMessages; ++i) {
    if (i == 77) continue;
    REQUIRE(ids[i] != 0);
    CHECK(m.body(ids[i]) == "message " + std::to_string(i) + "\r\n");
  }
  CHECK(m.c.query_one(kCount)->u64(0) == kMessages - 1);
  CHECK(m.c.query_one(kCount)->u64(1) == kMessages - 1);
  CHECK(batcher.delivered() == kMessages - 1);
  CHECK(batcher.batches() < batcher.delivered());  // some commits carried several messages
}

TEST_CASE("a batcher whose pool has stopped refuses at once", "[db]") {
  Db m;
  DbPool pool(m.db.options(), 1, 1024);
  pool.stop();
  DeliveryBatcher batcher(pool);
  bool called = false;
  Delivery d;
  d.message = "x\r\n";
  batcher.submit(std::move(d), [&](DbResult<Stored> r) {
    called = true;
    REQUIRE_FALSE(r);
    CHECK(r.error().kind == DbFailure::busy);
  });
  CHECK(called);
}

TEST_CASE("a delivery batch of large messages only, and a refused mixed batch", "[db]") {
  Db m;
  auto alice = m.user("alice");
  Delivery big1, big2, small, bad;
  big1.local_users = big2.local_users = small.local_users = {alice};
  big1.message.assign(100 * 1024, 'a');
  big2.message.assign(40 * 1024, '\'');
  small.message = "small\r\n";
  auto stored = deliver_batch(m.c, {&big1, &big2});
  REQUIRE(stored.size() == 2);
  CHECK(m.body(stored[0].message_id) == big1.message);
  CHECK(m.body(stored[1].message_id) == big2.message);
  // A refusal in the prepared part rolls back the scripted part too.
  bad.local_users = {999999};
  bad.message.assign(64 * 1024, 'b');
  CHECK_THROWS_AS(deliver_batch(m.c, {&small, &bad}), DbError);
  CHECK(m.c.query_one(kCount)->u64(0) == 2);
  CHECK(m.c.query_one(kCount)->u64(1) == 2);
}
