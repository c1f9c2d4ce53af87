// The relay queue runner's claims against a real MariaDB: SKIP LOCKED keeps two
// runners apart, leases keep a claimed row from being sent twice, expired leases
// make it due again, and results only land where the lease is still ours.
#include <catch2/catch.hpp>

#include <algorithm>
#include <thread>

#include "db/db_fixture.hpp"
#include "server/store/mail_store.hpp"
#include "server/store/migrations.hpp"
#include "server/store/relay_store.hpp"

using namespace shicks;
using namespace shicks::store;
using shicks::testing::ScratchDatabase;

namespace {
constexpr Sql kExpireLeases{"UPDATE relay_queue SET claimed_until = UTC_TIMESTAMP(6) - INTERVAL 1 SECOND"};
constexpr Sql kRowState{"SELECT attempts, last_error, claimed_by, next_attempt_at > UTC_TIMESTAMP(6) FROM relay_queue "
                        "WHERE id = ?"};
constexpr Sql kCounts{"SELECT (SELECT COUNT(*) FROM relay_queue), (SELECT COUNT(*) FROM messages)"};
constexpr Sql kLockRow{"SELECT id FROM relay_queue WHERE id = ? FOR UPDATE"};

struct Queue {
  ScratchDatabase db;
  Connection c{db.options()};
  Queue() { migrate(c, embedded_migrations()); }

  std::uint64_t queue(std::vector<std::string> rcpts, std::string from = "alice@example.org") {
    Delivery d;
    d.envelope_from = std::move(from);
    d.relay_recipients = std::move(rcpts);
    d.message = "Subject: x\r\n\r\nbody\r\n";
    return deliver(c, d).message_id;
  }
  std::pair<std::uint64_t, std::uint64_t> counts() {
    auto r = c.query_one(kCounts);
    return {r->u64(0), r->u64(1)};
  }
};

std::vector<std::uint64_t> ids(const std::vector<relay::QueuedRecipient>& v) {
  std::vector<std::uint64_t> out;
  for (const auto& q : v) out.push_back(q.id);
  return out;
}
}  // namespace

TEST_CASE("relay claims: grouped by message, leased, not claimed twice", "[db]") {
  Queue q;
  auto m1 = q.queue({"a@far.example", "b@far.example"});
  auto m2 = q.queue({"c@far.example"}, "");
  auto claimed = relay::claim_due(q.c, "host/1/100", 600, 10);
  REQUIRE(claimed.size() == 3);
  CHECK(claimed[0].message_id == m1);
  CHECK(claimed[1].message_id == m1);
  CHECK(claimed[2].message_id == m2);
  CHECK(claimed[0].recipient == "a@far.example");
  CHECK(claimed[0].sender == "alice@example.org");
  CHECK(claimed[2].sender.empty());
  CHECK(claimed[0].size == 20);
  CHECK(claimed[0].chunk_count == 1);
  CHECK(claimed[0].age_seconds < 60);
  CHECK(claimed[0].queued_unix > 1600000000);
  CHECK(relay::read_chunk(q.c, m1, 0) == "Subject: x\r\n\r\nbody\r\n");
  // Leased: neither this nor another runner gets them again.
  Connection other(q.db.options());
  CHECK(relay::claim_due(other, "host/2/200", 600, 10).empty());
  CHECK(relay::claim_due(q.c, "host/1/100", 600, 10).empty());
  // Their lease keeps them out of "due" too; the next due time is the lease's end.
  auto due = relay::ms_until_due(q.c);
  REQUIRE(due);
  CHECK(*due > 500000);
}

TEST_CASE("relay claims: SKIP LOCKED passes over a row being claimed elsewhere", "[db]") {
  Queue q;
  q.queue({"a@far.example"});
  q.queue({"b@far.example"});
  auto first = q.c.query(sql::kRelayDue, {10u});
  REQUIRE(first.size() == 2);
  // Another runner's claim transaction holds the first row.
  Connection holder(q.db.options());
  holder.begin();
  holder.query(kLockRow, {first[0].u64(0)});
  Connection runner(q.db.options());
  auto claimed = relay::claim_due(runner, "host/2/200", 600, 10);  // does not wait for the lock
  holder.rollback();
  REQUIRE(claimed.size() == 1);
  CHECK(claimed[0].id == first[1].u64(0));
}

TEST_CASE("relay claims: two runners at once never claim the same row", "[db]") {
  Queue q;
  for (int i = 0; i < 40; ++i) q.queue({"r" + std::to_string(i) + "@far.example"});
  std::vector<std::uint64_t> a, b;
  std::thread ta([&] {
    Connection c(q.db.options());
    for (int i = 0; i < 20; ++i)
      for (auto id : ids(relay::claim_due(c, "a/1/1", 600, 3))) a.push_back(id);
  });
  std::thread tb([&] {
    Connection c(q.db.options());
    for (int i = 0; i < 20; ++i)
      for (auto id : ids(relay::claim_due(c, "b/1/1", 600, 3))) b.push_back(id);
  });
  ta.join();
  tb.join();
  CHECK(a.size() + b.size() == 40);
  for (auto id : a) CHECK(std::find(b.begin(), b.end(), id) == b.end());
}

TEST_CASE("relay claims: an expired lease is claimed again, results need the lease", "[db]") {
  Queue q;
  auto m = q.queue({"a@far.example", "b@far.example"});
  auto dead = relay::claim_due(q.c, "dead/1/1", 600, 10);
  REQUIRE(dead.size() == 2);
  q.c.exec(kExpireLeases);
  auto mine = relay::claim_due(q.c, "live/1/2", 600, 10);
  REQUIRE(mine.size() == 2);
  // The dead runner's late results change nothing.
  CHECK(relay::remove(q.c, "dead/1/1", m, ids(dead)) == 0);
  relay::defer(q.c, "dead/1/1", {{dead[0].id, 60, "late"}});
  CHECK(q.counts() == std::pair<std::uint64_t, std::uint64_t>{2, 1});
  // Ours do: one deferred, one delivered; the body stays while a row holds it.
  relay::defer(q.c, "live/1/2", {{mine[0].id, 60, "451 4.3.0 later"}});
  auto st = q.c.query_one(kRowState, {mine[0].id});
  CHECK(st->u64(0) == 1);
  CHECK(st->str(1) == "451 4.3.0 later");
  CHECK(st->is_null(2));
  CHECK(st->i64(3) == 1);
  CHECK(relay::remove(q.c, "live/1/2", m, {mine[1].id}) == 1);
  CHECK(q.counts() == std::pair<std::uint64_t, std::uint64_t>{1, 1});
  // Not due yet; flush makes it due; removing the last row removes the body.
  CHECK(relay::claim_due(q.c, "live/1/2", 600, 10).empty());
  CHECK(relay::flush(q.c) == 1);
  auto again = relay::claim_due(q.c, "live/1/2", 600, 10);
  REQUIRE(again.size() == 1);
  CHECK(again[0].attempts == 1);
  CHECK(relay::remove(q.c, "live/1/2", m, ids(again)) == 1);
  CHECK(q.counts() == std::pair<std::uint64_t, std::uint64_t>{0, 0});
}

TEST_CASE("relay claims: release, owner prefix, flush keeps leases", "[db]") {
  Queue q;
  q.queue({"a@far.example", "b@far.example"});
  auto c1 = relay::claim_due(q.c, "host/abc/10", 600, 1);
  REQUIRE(c1.size() == 1);
  relay::release(q.c, "host/abc/10", ids(c1));
  auto c2 = relay::claim_due(q.c, "host/abc/10", 600, 10);
  REQUIRE(c2.size() == 2);
  CHECK(c2[0].attempts == 0);  // a release is no attempt
  // flush: due now, but a lease in force stays.
  CHECK(relay::flush(q.c) == 2);
  CHECK(relay::claim_due(q.c, "other/x/1", 600, 10).empty());
  // A restarted daemon (same prefix, new pid) voids its earlier leases.
  CHECK(relay::release_owner_prefix(q.c, "host/abd/") == 0);
  CHECK(relay::release_owner_prefix(q.c, "host/abc/") == 2);
  CHECK(relay::claim_due(q.c, "host/abc/11", 600, 10).size() == 2);
  CHECK(relay::ms_until_due(q.c).has_value());
}

TEST_CASE("relay flush during an attempt: its deferral is due at once, once", "[db]") {
  constexpr Sql kMark{"SELECT flush_requested FROM relay_queue WHERE id = ?"};
  Queue q;
  auto m1 = q.queue({"a@far.example", "b@far.example"});
  auto claimed = relay::claim_due(q.c, "host/1/100", 600, 10);
  REQUIRE(claimed.size() == 2);
  const auto a = claimed[0].id, b = claimed[1].id;
  // The flush comes through another daemon while the attempt is open: the leases stay.
  Connection other(q.db.options());
  CHECK(relay::flush(other) == 2);
  CHECK(q.c.query_one(kMark, {a})->i64(0) == 1);
  CHECK(relay::claim_due(other, "host/2/200", 600, 10).empty());
  // Someone else's late result neither uses nor clears the mark.
  CHECK(relay::defer(other, "host/2/200", {{a, 3600, "late"}}).empty());
  CHECK(q.c.query_one(kMark, {a})->i64(0) == 1);
  // The attempt ends deferred: due now, not after the backoff; the attempt counts.
  auto flushed = relay::defer(q.c, "host/1/100", {{b, 3600, "451 4.3.0 b"}, {a, 3600, "451 4.3.0 a"}});
  std::sort(flushed.begin(), flushed.end());
  CHECK(flushed == std::vector<std::uint64_t>{a, b});
  auto st = q.c.query_one(kRowState, {a});
  CHECK(st->u64(0) == 1);
  CHECK(st->str(1) == "451 4.3.0 a");
  CHECK(st->is_null(2));
  CHECK(st->i64(3) == 0);  // due
  CHECK(q.c.query_one(kMark, {a})->i64(0) == 0);
  // The retry is claimed at once; the mark was used up: its deferral backs off.
  auto again = relay::claim_due(other, "host/2/200", 600, 10);
  REQUIRE(again.size() == 2);
  CHECK(again[0].attempts == 1);
  CHECK(relay::defer(other, "host/2/200", {{a, 3600, "451 again"}}).empty());
  CHECK(q.c.query_one(kRowState, {a})->i64(3) == 1);  // not due: backoff
  CHECK(relay::remove(other, "host/2/200", m1, {b}) == 1);
  // A flush before the claim is no mark on the attempt that follows it.
  auto m2 = q.queue({"c@far.example"});
  CHECK(relay::flush(q.c) == 2);
  CHECK(q.c.query_one(kMark, {a})->i64(0) == 0);  // not leased: only made due
  auto later = relay::claim_due(q.c, "host/1/100", 600, 10);
  REQUIRE(later.size() == 2);
  for (const auto& r : later) CHECK(q.c.query_one(kMark, {r.id})->i64(0) == 0);
  CHECK(relay::defer(q.c, "host/1/100", {{later[0].id, 3600, "x"}, {later[1].id, 3600, "y"}}).empty());
  CHECK(relay::ms_until_due(q.c).value() > 3000000);
  (void)m2;
}
