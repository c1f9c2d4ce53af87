// The statements on a hot path (SMTP recipients and logins, delivery clean-up, POP3
// leases, listing, retrieval and deletion, the relay runner's claims) use the index
// they should, against a database with enough rows that the optimizer prefers one:
// no full scan, no filesort, no temporary table -- so a schema change cannot quietly
// turn one of them into a cost that grows with the data (EXPLAIN of each).
#include <catch2/catch.hpp>

#include <map>
#include <set>
#include <string>
#include <vector>

#include <fmt/core.h>

#include "db/db_fixture.hpp"
#include "server/store/migrations.hpp"
#include "server/store/sql.hpp"

using namespace shicks;
using namespace shicks::store;
using shicks::testing::ScratchDatabase;

namespace {
constexpr int kUsers = 50, kMessages = 5000, kQueued = 5000;

struct Seeded {
  ScratchDatabase db;
  Connection c{db.options()};
  Seeded() {
    migrate(c, embedded_migrations());
    c.exec_text(fmt::format(
        "INSERT INTO users (name, password_hash, enabled, created_at) SELECT CONCAT('u', seq), 'x', 1, "
        "UTC_TIMESTAMP(6) FROM seq_1_to_{}",
        kUsers));
    c.exec_text(fmt::format(
        "INSERT INTO addresses (address, domain, created_at) SELECT CONCAT('u', seq, '@d', seq % 5, '.example'), "
        "CONCAT('d', seq % 5, '.example'), UTC_TIMESTAMP(6) FROM seq_1_to_{}",
        kUsers));
    c.exec_text("INSERT INTO address_targets (address_id, user_id) SELECT id, id FROM addresses");
    c.exec_text(fmt::format(
        "INSERT INTO messages (size, chunk_count, envelope_from, header_from, subject, created_at) SELECT 100, 1, "
        "'s@remote.example', 'S <s@remote.example>', CONCAT('m', seq), UTC_TIMESTAMP(6) FROM seq_1_to_{}",
        kMessages + kQueued));
    c.exec_text("INSERT INTO message_chunks (message_id, seq, data) SELECT id, 0, REPEAT('x', 100) FROM messages");
    c.exec_text(fmt::format(
        "INSERT INTO mailbox_entries (user_id, message_id, size, uidl, received_at) SELECT seq % {} + 1, seq, 100, "
        "CONCAT('uidl', seq), UTC_TIMESTAMP(6) FROM seq_1_to_{}",
        kUsers, kMessages));
    // A queue of deferred mail, a few rows being sent.
    c.exec_text(fmt::format(
        "INSERT INTO relay_queue (message_id, sender, recipient, attempts, next_attempt_at, created_at) SELECT "
        "{} + seq, 's@local.example', CONCAT('r', seq, '@far.example'), 3, UTC_TIMESTAMP(6) + INTERVAL seq MINUTE, "
        "UTC_TIMESTAMP(6) FROM seq_1_to_{}",
        kMessages, kQueued));
    c.exec_text(
        "UPDATE relay_queue SET claimed_by = 'mx/1/1', claimed_until = UTC_TIMESTAMP(6) + INTERVAL 10 MINUTE "
        "WHERE id <= 3");
    c.exec_text(
        "INSERT INTO mailbox_leases (user_id, owner, acquired_at, expires_at) SELECT id, CONCAT('mx/1/1/p', id), "
        "UTC_TIMESTAMP(6), UTC_TIMESTAMP(6) + INTERVAL 60 SECOND FROM users WHERE id <= 10");
    c.exec_text(
        "INSERT INTO spam_keywords (keyword, created_at) SELECT CONCAT('kw', seq), UTC_TIMESTAMP(6) FROM "
        "seq_1_to_300");
    c.exec_text("INSERT INTO settings (name, value, updated_at) VALUES ('spam.action', 'tag', UTC_TIMESTAMP(6))");
    c.exec_text(
        "ANALYZE TABLE users, addresses, address_targets, messages, message_chunks, mailbox_entries, relay_queue, "
        "mailbox_leases, spam_keywords, settings");
  }
};

// `sql` with each '?' replaced by the next of `params` (SQL literals).
std::string bind(const char* sql, const std::vector<std::string>& params) {
  std::string out;
  std::size_t next = 0;
  for (const char* p = sql; *p; ++p) {
    if (*p != '?') {
      out += *p;
      continue;
    }
    REQUIRE(next < params.size());
    out += params[next++];
  }
  REQUIRE(next == params.size());
  return out;
}

// table (or alias) -> the index it must use ("a|b": either)
using Keys = std::map<std::string, std::string>;

// EXPLAIN of `sql` bound to `params`: every table read through an index (the one
// named in `keys`) except those of `full_scan_ok` (with the reason at the call), no
// filesort and no temporary table unless `filesort_ok`.
void check_plan(Connection& c, const char* name, const char* sql, const std::vector<std::string>& params,
                const Keys& keys, const std::set<std::string>& full_scan_ok = {}, bool filesort_ok = false) {
  auto rows = c.query_text("EXPLAIN " + bind(sql, params));
  REQUIRE_FALSE(rows.empty());
  std::set<std::string> seen;
  for (const auto& r : rows) {
    // id, select_type, table, type, possible_keys, key, key_len, ref, rows, Extra
    std::string table = r.str(2), type = r.str(3), key = r.str(5), extra = r.str(9);
    INFO(name << ": table " << table << " type " << type << " key " << key << " rows " << r.str(8) << " extra \""
              << extra << "\"");
    if (table.empty() || table.rfind("<derived", 0) == 0) continue;  // a constant or derived row
    seen.insert(table);
    if (!full_scan_ok.count(table)) {
      CHECK(type != "ALL");
      CHECK(type != "index");  // a whole index read is a scan too
    }
    if (!filesort_ok) {
      CHECK(extra.find("Using filesort") == std::string::npos);
      CHECK(extra.find("Using temporary") == std::string::npos);
    }
    auto k = keys.find(table);
    if (k != keys.end()) CHECK(("|" + k->second + "|").find("|" + key + "|") != std::string::npos);
  }
  for (const auto& [table, key] : keys) {
    INFO(name << ": table " << table << " is not in the plan");
    CHECK(seen.count(table));
  }
}

std::string q(const std::string& s) { return "'" + s + "'"; }
}  // namespace

TEST_CASE("query plans: SMTP recipients, senders and logins use their unique keys", "[db]") {
  Seeded s;
  // The targets of at most two addresses are sorted: a handful of rows, never the table.
  check_plan(s.c, "kAddressTargets", sql::kAddressTargets.text, {q("u7@d2.example"), q("@d2.example"), q("u7@d2.example")},
             {{"a", "uq_addresses_address"}, {"t", "PRIMARY"}, {"u", "PRIMARY"}}, {}, true);
  check_plan(s.c, "kDomainHeld", sql::kDomainHeld.text, {q("d2.example")}, {{"addresses", "ix_addresses_domain"}});
  check_plan(s.c, "kSenderOwned", sql::kSenderOwned.text, {q("u7"), q("u7@d2.example"), q("@d2.example")},
             {{"u", "uq_users_name"}});
  check_plan(s.c, "kUserByName", sql::kUserByName.text, {q("u7")}, {{"users", "uq_users_name"}});
  check_plan(s.c, "kUserByAddress", sql::kUserByAddress.text, {q("u7@d2.example")},
             {{"a", "uq_addresses_address"}, {"u", "PRIMARY"}});
  check_plan(s.c, "kTouchLogin", sql::kTouchLogin.text, {"7"}, {{"users", "PRIMARY"}});
  check_plan(s.c, "kSpamCountHit", sql::kSpamCountHit.text, {q("kw77")}, {{"spam_keywords", "uq_spam_keywords_keyword"}});
  check_plan(s.c, "kSettingGet", sql::kSettingGet.text, {q("spam.action")}, {{"settings", "PRIMARY"}});
}

TEST_CASE("query plans: POP3 leases, listing, retrieval and deletion read one user's rows", "[db]") {
  Seeded s;
  // By the user's row or by the (empty) range of expired leases: either is one row.
  check_plan(s.c, "kLeaseDropExpired", sql::kLeaseDropExpired.text, {"7"},
             {{"mailbox_leases", "PRIMARY|ix_mailbox_leases_expires"}});
  check_plan(s.c, "kLeaseRenew", sql::kLeaseRenew.text, {"60", "7", q("mx/1/1/p7")}, {{"mailbox_leases", "PRIMARY"}});
  check_plan(s.c, "kLeaseRelease", sql::kLeaseRelease.text, {"7", q("mx/1/1/p7")}, {{"mailbox_leases", "PRIMARY"}});
  // One statement every few seconds renews all of a daemon's leases: the table holds
  // one row per open POP3 session, never the mail.
  check_plan(s.c, "kLeaseRenewPrefix", sql::kLeaseRenewPrefix.text, {"60", q("mx/1/"), q("mx/1/")},
             {}, {"mailbox_leases"});
  check_plan(s.c, "kMaildropList", sql::kMaildropList.text, {"7"}, {{"mailbox_entries", "ix_mailbox_entries_user"}});
  std::vector<std::string> starts = {"7"};
  for (unsigned i = 0; i < sql::kMessageStartsIds; ++i) starts.push_back(std::to_string(6 + 50 * i));
  check_plan(s.c, "kMessageStarts", sql::kMessageStarts.text, starts,
             {{"e", "PRIMARY|ix_mailbox_entries_user"}, {"m", "PRIMARY"}, {"c", "PRIMARY"}});
  check_plan(s.c, "kMessageChunk", sql::kMessageChunk.text, {"56", "0"}, {{"message_chunks", "PRIMARY"}});
  check_plan(s.c, "kEntryMessage", sql::kEntryMessage.text, {"56", "7"},
             {{"mailbox_entries", "PRIMARY|ix_mailbox_entries_user"}});
  check_plan(s.c, "kDeleteEntry", sql::kDeleteEntry.text, {"56", "7"},
             {{"mailbox_entries", "PRIMARY|ix_mailbox_entries_user"}});
  check_plan(s.c, "kDeleteUnreferencedMessage", sql::kDeleteUnreferencedMessage.text, {"56", "56", "56"},
             {{"messages", "PRIMARY"}, {"mailbox_entries", "ix_mailbox_entries_message"},
               {"relay_queue", "ix_relay_queue_message"}});
  check_plan(s.c, "kAdminMailboxList", sql::kAdminMailboxList.text, {"7"},
             {{"e", "ix_mailbox_entries_user"}, {"m", "PRIMARY"}});
}

TEST_CASE("query plans: the relay runner's claims do not read the deferred queue", "[db]") {
  Seeded s;
  check_plan(s.c, "kRelayDue", sql::kRelayDue.text, {"32"}, {{"relay_queue", "ix_relay_queue_due"}});
  check_plan(s.c, "kRelayNextDue", sql::kRelayNextDue.text, {}, {{"relay_queue", "ix_relay_queue_claim"}});
  check_plan(s.c, "kRelayClaim", sql::kRelayClaim.text, {q("mx/1/1"), "900", "4000"}, {{"relay_queue", "PRIMARY"}});
  check_plan(s.c, "kRelayClaimedRow", sql::kRelayClaimedRow.text, {"4000"}, {{"q", "PRIMARY"}, {"m", "PRIMARY"}});
  check_plan(s.c, "kRelayDone", sql::kRelayDone.text, {"4000", q("mx/1/1")}, {{"relay_queue", "PRIMARY"}});
  check_plan(s.c, "kRelayDefer", sql::kRelayDefer.text, {q("451 later"), "60", "4000", q("mx/1/1")},
             {{"relay_queue", "PRIMARY"}});
  check_plan(s.c, "kRelayRelease", sql::kRelayRelease.text, {"4000", q("mx/1/1")}, {{"relay_queue", "PRIMARY"}});
}

TEST_CASE("the next due time is the same with the claim index", "[db]") {
  Seeded s;
  // Claimed rows (leases of 10 minutes) and the first deferred one (in 1 minute):
  // the next due is the unclaimed row at about 60 s from now.
  s.c.exec_text("UPDATE relay_queue SET next_attempt_at = UTC_TIMESTAMP(6) + INTERVAL 1 SECOND WHERE id <= 3");
  auto ms = s.c.query_one(sql::kRelayNextDue);
  REQUIRE(ms);
  CHECK(ms->i64(0) > 3 * 60 * 1000);  // ids 1-3 are claimed for 10 min; id 4 is due in 4 min
  CHECK(ms->i64(0) <= 4 * 60 * 1000);
  // A lease that has run out makes its row due at its own time (1 s from now).
  s.c.exec_text("UPDATE relay_queue SET claimed_until = UTC_TIMESTAMP(6) - INTERVAL 5 SECOND WHERE id = 2");
  ms = s.c.query_one(sql::kRelayNextDue);
  CHECK(ms->i64(0) <= 1000);
  // And one due in the past is due now (a negative wait).
  s.c.exec_text("UPDATE relay_queue SET next_attempt_at = UTC_TIMESTAMP(6) - INTERVAL 5 SECOND WHERE id = 2");
  ms = s.c.query_one(sql::kRelayNextDue);
  CHECK(ms->i64(0) < 0);
  // Only claimed rows: the end of the earliest lease.
  s.c.exec_text("DELETE FROM relay_queue WHERE id > 3");
  s.c.exec_text("UPDATE relay_queue SET claimed_until = UTC_TIMESTAMP(6) + INTERVAL (id * 100) SECOND");
  ms = s.c.query_one(sql::kRelayNextDue);
  CHECK(ms->i64(0) > 99 * 1000);
  CHECK(ms->i64(0) <= 100 * 1000);
  // Empty: NULL.
  s.c.exec_text("DELETE FROM relay_queue");
  ms = s.c.query_one(sql::kRelayNextDue);
  REQUIRE(ms);
  CHECK(ms->is_null(0));
}
