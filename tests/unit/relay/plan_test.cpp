#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "server/relay/plan.hpp"

using namespace shicks::relay;

namespace {

using Ids = std::vector<std::uint64_t>;

const RetryPolicy kPolicy{300, 3600, 432000};
const DsnOrigin kOrigin{"mx.example.org", "smart.example.net", "tok123"};
constexpr std::time_t kNow = 1700000600;

RecipientResult sent(const std::string& rcpt) {
  return {rcpt, Outcome::delivered, "2.0.0", "250 2.0.0 Ok: queued as X", true};
}
RecipientResult temporary(const std::string& rcpt, bool remote = true) {
  return {rcpt, Outcome::temporary, "4.2.2", "452 4.2.2 mailbox full", remote};
}
RecipientResult permanent(const std::string& rcpt) {
  return {rcpt, Outcome::permanent, "5.1.1", "550 5.1.1 unknown user", true};
}

// A message from alice@example.org queued at 1700000000, one row per result (ids 10, 11, ...).
Attempt attempt(std::vector<RecipientResult> results, std::uint64_t attempts = 0, std::uint64_t age = 60) {
  Attempt a;
  a.sender = "alice@example.org";
  a.arrival = 1700000000;
  for (std::size_t i = 0; i < results.size(); ++i)
    a.rows.push_back(QueueRow{10 + i, results[i].recipient, attempts, age});
  a.results = std::move(results);
  return a;
}

}  // namespace

TEST_CASE("relay plan: a delivered recipient is removed and logged as sent", "[relay]") {
  Plan p = plan(attempt({sent("bob@far.example")}), kPolicy, kOrigin, kNow);
  CHECK(p.done == Ids{10});
  CHECK(p.deferred.empty());
  CHECK(p.bounced.empty());
  CHECK(p.release.empty());
  CHECK_FALSE(p.dsn);
  CHECK(p.no_dsn.empty());
  CHECK(p.records());
  REQUIRE(p.events.size() == 1);
  CHECK(p.events[0].kind == Event::sent);
  CHECK(p.events[0].row == 10);
  CHECK(p.events[0].rcpt == "bob@far.example");
  CHECK(p.events[0].detail == "250 2.0.0 Ok: queued as X");
}

TEST_CASE("relay plan: a temporary failure is deferred by the retry schedule", "[relay]") {
  // attempts counts the failures before this one: the third failure waits 300 * 2^2.
  Plan p = plan(attempt({temporary("bob@far.example")}, 2, 600), kPolicy, kOrigin, kNow);
  REQUIRE(p.deferred.size() == 1);
  CHECK(p.deferred[0].id == 10);
  CHECK(p.deferred[0].delay_seconds == 1200);
  CHECK(p.deferred[0].error == "452 4.2.2 mailbox full");
  CHECK(p.done.empty());
  CHECK(p.bounced.empty());
  CHECK_FALSE(p.dsn);
  REQUIRE(p.events.size() == 1);
  CHECK(p.events[0].kind == Event::deferred);
  CHECK(p.events[0].retry_in == 1200);
  CHECK_FALSE(p.events[0].flushed);

  // Written without a flush mark: reported with its delay.
  auto ev = report(p, Written{});
  REQUIRE(ev.size() == 1);
  CHECK(ev[0].retry_in == 1200);
  CHECK_FALSE(ev[0].flushed);

  // The first failure waits the initial delay; the delay stops at the cap; the last
  // retry falls on the end of the lifetime.
  CHECK(plan(attempt({temporary("b@x")}, 0, 0), kPolicy, kOrigin, kNow).deferred[0].delay_seconds == 300);
  CHECK(plan(attempt({temporary("b@x")}, 9, 0), kPolicy, kOrigin, kNow).deferred[0].delay_seconds == 3600);
  CHECK(plan(attempt({temporary("b@x")}, 9, 432000 - 50), kPolicy, kOrigin, kNow).deferred[0].delay_seconds == 50);
}

TEST_CASE("relay plan: a deferral during which a queue flush ran is reported as due now", "[relay]") {
  Plan p = plan(attempt({temporary("bob@far.example"), temporary("carol@far.example")}, 0, 0), kPolicy, kOrigin,
                kNow);
  REQUIRE(p.deferred.size() == 2);
  CHECK(p.deferred[1].delay_seconds == 300);  // the delay the plan asks for; the flush mark overrides it
  Written w;
  w.flushed = {11};
  auto ev = report(p, w);
  REQUIRE(ev.size() == 2);
  CHECK(ev[0].row == 10);
  CHECK_FALSE(ev[0].flushed);
  CHECK(ev[0].retry_in == 300);
  CHECK(ev[1].row == 11);
  CHECK(ev[1].flushed);
  CHECK(ev[1].retry_in == 0);
}

TEST_CASE("relay plan: a permanent failure bounces with a DSN to the sender", "[relay]") {
  Plan p = plan(attempt({permanent("bob@far.example")}, 3, 7200), kPolicy, kOrigin, kNow);
  CHECK(p.bounced == Ids{10});
  CHECK(p.done.empty());
  CHECK(p.deferred.empty());
  REQUIRE(p.dsn);
  CHECK(p.dsn->domain == "example.org");
  const DsnInput& in = p.dsn->input;
  CHECK(in.original_sender == "alice@example.org");
  CHECK(in.reporting_mta == "mx.example.org");
  CHECK(in.remote_mta == "smart.example.net");
  CHECK(in.unique == "tok123");
  CHECK(in.arrival == 1700000000);
  CHECK(in.now == kNow);
  CHECK_FALSE(in.expired);
  CHECK(in.original_headers.empty());  // read from the body when the DSN is delivered
  REQUIRE(in.recipients.size() == 1);
  CHECK(in.recipients[0].recipient == "bob@far.example");
  CHECK(in.recipients[0].status == "5.1.1");
  CHECK(in.recipients[0].diagnostic == "550 5.1.1 unknown user");
  CHECK(in.recipients[0].remote);
  REQUIRE(p.events.size() == 1);
  CHECK(p.events[0].kind == Event::bounced);
  CHECK(p.events[0].status == "5.1.1");
  CHECK(p.events[0].detail == "550 5.1.1 unknown user");

  // The log says what became of the DSN, as writing the plan found out.
  Written w;
  w.dsn = "delivered";
  CHECK(report(p, w)[0].dsn == "delivered");
  w.dsn = "none (sender not local)";
  CHECK(report(p, w)[0].dsn == "none (sender not local)");
}

TEST_CASE("relay plan: a temporary failure past the lifetime bounces as expired", "[relay]") {
  Plan p = plan(attempt({temporary("bob@far.example", false)}, 40, 432000), kPolicy, kOrigin, kNow);
  CHECK(p.bounced == Ids{10});
  CHECK(p.deferred.empty());
  REQUIRE(p.dsn);
  CHECK(p.dsn->input.expired);
  REQUIRE(p.dsn->input.recipients.size() == 1);
  const FailedRecipient& f = p.dsn->input.recipients[0];
  CHECK(f.status == "4.2.2");
  CHECK(f.diagnostic == "delivery time expired; last error: 452 4.2.2 mailbox full");
  CHECK_FALSE(f.remote);  // our own diagnostic, not the relay's reply
  REQUIRE(p.events.size() == 1);
  CHECK(p.events[0].kind == Event::bounced);
  CHECK(p.events[0].status == "4.2.2");
  CHECK(p.events[0].detail == f.diagnostic);

  // Without a status of its own the expiry is 4.4.7 (RFC 3463: delivery time expired).
  auto a = attempt({temporary("bob@far.example")}, 40, 500000);
  a.results[0].status = "";
  Plan q = plan(a, kPolicy, kOrigin, kNow);
  REQUIRE(q.dsn);
  CHECK(q.dsn->input.recipients[0].status == "4.4.7");
  CHECK(q.events[0].status == "4.4.7");
}

TEST_CASE("relay plan: no DSN to the null sender nor to an address without a domain", "[relay]") {
  auto a = attempt({permanent("bob@far.example")});
  a.sender = "";
  Plan p = plan(a, kPolicy, kOrigin, kNow);
  CHECK(p.bounced == Ids{10});
  CHECK_FALSE(p.dsn);
  CHECK(p.no_dsn == "none (null sender)");
  CHECK(report(p, Written{})[0].dsn == "none (null sender)");

  a.sender = "postmaster";
  p = plan(a, kPolicy, kOrigin, kNow);
  CHECK_FALSE(p.dsn);
  CHECK(p.no_dsn == "none (sender not local)");
  CHECK(report(p, Written{})[0].dsn == "none (sender not local)");

  // Nothing bounced: no word about a DSN either way.
  auto b = attempt({sent("bob@far.example")});
  b.sender = "";
  Plan q = plan(b, kPolicy, kOrigin, kNow);
  CHECK_FALSE(q.dsn);
  CHECK(q.no_dsn.empty());
}

TEST_CASE("relay plan: mixed results of one attempt, one DSN for all bounced recipients", "[relay]") {
  std::vector<RecipientResult> results = {sent("a@far.example"), temporary("b@far.example"), permanent("c@far.example"),
                                          sent("d@far.example"), permanent("e@far.example")};
  Plan p = plan(attempt(results, 0, 10), kPolicy, kOrigin, kNow);
  CHECK(p.done == Ids{10, 13});
  REQUIRE(p.deferred.size() == 1);
  CHECK(p.deferred[0].id == 11);
  CHECK(p.deferred[0].delay_seconds == 300);
  CHECK(p.bounced == Ids{12, 14});
  CHECK(p.release.empty());
  REQUIRE(p.dsn);
  REQUIRE(p.dsn->input.recipients.size() == 2);
  CHECK(p.dsn->input.recipients[0].recipient == "c@far.example");
  CHECK(p.dsn->input.recipients[1].recipient == "e@far.example");
  CHECK_FALSE(p.dsn->input.expired);

  Written w;
  w.dsn = "delivered";
  auto ev = report(p, w);
  std::vector<Event::Kind> kinds;
  for (const auto& e : ev) kinds.push_back(e.kind);
  CHECK(kinds == std::vector<Event::Kind>{Event::sent, Event::deferred, Event::bounced, Event::sent, Event::bounced});
  CHECK(ev[2].dsn == "delivered");
  CHECK(ev[4].dsn == "delivered");
  CHECK(ev[0].dsn.empty());
  CHECK(ev[1].dsn.empty());
}

TEST_CASE("relay plan: an expiry and a refusal in one attempt make one expired DSN", "[relay]") {
  auto a = attempt({permanent("a@far.example"), temporary("b@far.example")}, 5, 432001);
  Plan p = plan(a, kPolicy, kOrigin, kNow);
  CHECK(p.bounced == Ids{10, 11});
  REQUIRE(p.dsn);
  CHECK(p.dsn->input.expired);
  CHECK(p.dsn->input.recipients.size() == 2);
}

TEST_CASE("relay plan: shutdown gives back what the relay never answered, uncounted", "[relay]") {
  // b: the connection was closed under it (no reply of the relay); c: the relay's own
  // temporary refusal, which counts as an attempt even during shutdown.
  auto a = attempt({sent("a@far.example"), temporary("b@far.example", false), temporary("c@far.example", true)});
  a.stopping = true;
  Plan p = plan(a, kPolicy, kOrigin, kNow);
  CHECK(p.release == Ids{11});
  CHECK(p.done == Ids{10});
  REQUIRE(p.deferred.size() == 1);
  CHECK(p.deferred[0].id == 12);
  REQUIRE(p.events.size() == 2);  // nothing is logged of a row given back
  CHECK(p.events[0].row == 10);
  CHECK(p.events[1].row == 12);

  // Only given back: nothing to record under the lease.
  auto b = attempt({temporary("b@far.example", false)});
  b.stopping = true;
  Plan q = plan(b, kPolicy, kOrigin, kNow);
  CHECK(q.release == Ids{10});
  CHECK_FALSE(q.records());
  CHECK(q.events.empty());

  // Not stopping: the same local failure is a deferral.
  b.stopping = false;
  CHECK(plan(b, kPolicy, kOrigin, kNow).deferred.size() == 1);
}

TEST_CASE("relay plan: rows without a result are left alone", "[relay]") {
  auto a = attempt({sent("a@far.example"), sent("b@far.example")});
  a.results.pop_back();
  Plan p = plan(a, kPolicy, kOrigin, kNow);
  CHECK(p.done == Ids{10});
  CHECK(p.deferred.empty());
  CHECK(p.bounced.empty());
  CHECK(p.release.empty());
  CHECK(p.events.size() == 1);

  a.results.clear();
  CHECK_FALSE(plan(a, kPolicy, kOrigin, kNow).records());
}

TEST_CASE("relay plan: an unreachable relay defers every recipient with a local diagnostic", "[relay]") {
  std::vector<QueueRow> rows = {{1, "a@far.example", 0, 0}, {2, "b@far.example", 0, 0}};
  auto results = unreachable(rows, "connect smart.example.net:25: Connection refused");
  REQUIRE(results.size() == 2);
  for (std::size_t i = 0; i < rows.size(); ++i) {
    CHECK(results[i].recipient == rows[i].recipient);
    CHECK(results[i].outcome == Outcome::temporary);
    CHECK(results[i].status == "4.4.1");
    CHECK(results[i].diagnostic == "connect smart.example.net:25: Connection refused");
    CHECK_FALSE(results[i].remote);
  }
}
