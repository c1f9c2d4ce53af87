#include "server/store/pop3_store.hpp"

#include <algorithm>

#include "server/store/mail_store.hpp"
#include "server/store/sql.hpp"

namespace shicks::store {

Maildrop open_maildrop(Connection& c, std::uint64_t user_id, const std::string& owner, unsigned lease_seconds) {
  return in_transaction(c, [&] {
    Maildrop m;
    c.exec(sql::kLeaseDropExpired, {user_id});
    if (c.exec(sql::kLeaseTake, {user_id, owner, lease_seconds}) == 0) {
      m.in_use = true;
      return m;
    }
    auto rows = c.query(sql::kMaildropList, {user_id});
    m.messages.reserve(rows.size());
    for (auto& row : rows) m.messages.push_back({row.u64(0), row.u64(1), row.take(2)});
    return m;
  });
}

bool renew_lease(Connection& c, std::uint64_t user_id, const std::string& owner, unsigned lease_seconds) {
  return c.exec(sql::kLeaseRenew, {lease_seconds, user_id, owner}) > 0;
}

void release_lease(Connection& c, std::uint64_t user_id, const std::string& owner) {
  c.exec(sql::kLeaseRelease, {user_id, owner});
}

MessageStart read_message_start(Connection& c, std::uint64_t user_id, std::uint64_t entry_id) {
  MessageStart s;
  auto row = c.query_one(sql::kMessageFirstChunk, {entry_id, user_id});
  if (!row) return s;
  s.found = true;
  s.message_id = row->u64(0);
  s.envelope_from = row->take(1);
  s.chunk_count = std::uint32_t(row->u64(2));
  s.first_chunk = row->take(3);
  return s;
}

std::string read_message_chunk(Connection& c, std::uint64_t message_id, std::uint32_t seq) {
  auto row = c.query_one(sql::kMessageChunk, {message_id, seq});
  if (!row) throw DbError(0, false, "message " + std::to_string(message_id) + " lacks chunk " + std::to_string(seq));
  return row->take(0);
}

UpdateResult commit_deletions(Connection& c, std::uint64_t user_id, const std::string& owner,
                              const std::vector<std::uint64_t>& entry_ids) {
  UpdateResult r;
  c.begin();
  try {
    // Releasing the lease inside the transaction proves it is still ours: a session
    // whose lease expired and was taken by another must not change the maildrop.
    if (c.exec(sql::kLeaseRelease, {user_id, owner}) == 0) {
      c.rollback();
      r.lease_lost = true;
      return r;
    }
    std::vector<std::uint64_t> bodies;
    for (std::uint64_t id : entry_ids) {
      auto row = c.query_one(sql::kEntryMessage, {id, user_id});
      if (!row) continue;  // already gone (an admin purge): nothing to do
      bodies.push_back(row->u64(0));
      r.entries_deleted += c.exec(sql::kDeleteEntry, {id, user_id});
    }
    std::sort(bodies.begin(), bodies.end());
    bodies.erase(std::unique(bodies.begin(), bodies.end()), bodies.end());
    for (std::uint64_t m : bodies) r.bodies_deleted += delete_body_if_unreferenced(c, m) ? 1 : 0;
    c.commit();
  } catch (...) {
    c.rollback();
    throw;
  }
  return r;
}

}  // namespace shicks::store
