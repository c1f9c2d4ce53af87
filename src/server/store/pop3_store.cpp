#include "server/store/pop3_store.hpp"

#include <algorithm>

#include "server/store/mail_store.hpp"
#include "server/store/sql.hpp"

namespace shicks::store {

Maildrop open_maildrop(Connection& c, std::uint64_t user_id, const std::string& owner, unsigned lease_seconds) {
  // Concurrent logins of different users meet on the lease table's key gaps.
  return in_transaction_retrying(c, [&] {
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

std::vector<HeldLease> renew_leases(Connection& c, const std::string& owner_prefix, unsigned lease_seconds) {
  c.exec(sql::kLeaseRenewPrefix, {lease_seconds, owner_prefix, owner_prefix});
  std::vector<HeldLease> out;
  for (auto& row : c.query(sql::kLeasesOfPrefix, {owner_prefix, owner_prefix})) out.push_back({row.u64(0), row.take(1)});
  return out;
}

std::uint64_t release_leases(Connection& c, const std::string& owner_prefix) {
  return c.exec(sql::kLeaseReleasePrefix, {owner_prefix, owner_prefix});
}

MessageStart read_message_start(Connection& c, std::uint64_t user_id, std::uint64_t entry_id) {
  return std::move(read_message_starts(c, user_id, {entry_id}).front());
}

std::vector<MessageStart> read_message_starts(Connection& c, std::uint64_t user_id,
                                              const std::vector<std::uint64_t>& entry_ids) {
  static_assert(kMessageStartsPerQuery == sql::kMessageStartsIds);
  std::vector<MessageStart> out(entry_ids.size());
  std::vector<Param> params;
  for (std::size_t from = 0; from < entry_ids.size(); from += kMessageStartsPerQuery) {
    const std::size_t to = std::min(entry_ids.size(), from + kMessageStartsPerQuery);
    params.clear();
    params.emplace_back(user_id);
    for (std::size_t i = 0; i < kMessageStartsPerQuery; ++i)
      params.emplace_back(entry_ids[std::min(from + i, to - 1)]);  // the last id fills the unused places
    const auto first = entry_ids.begin() + std::ptrdiff_t(from), last = entry_ids.begin() + std::ptrdiff_t(to);
    for (auto& row : c.query(sql::kMessageStarts, params)) {
      // Rows come in no particular order.
      auto at = std::find(first, last, row.u64(0));
      if (at == last) continue;
      MessageStart& s = out[std::size_t(at - entry_ids.begin())];
      s.found = true;
      s.message_id = row.u64(1);
      s.envelope_from = row.take(2);
      s.chunk_count = std::uint32_t(row.u64(3));
      s.first_chunk = row.take(4);
    }
    for (auto it = first; it != last; ++it) {  // an id asked for twice gets a copy
      auto at = std::find(first, it, *it);
      if (at != it) out[std::size_t(it - entry_ids.begin())] = out[std::size_t(at - entry_ids.begin())];
    }
  }
  return out;
}

std::string read_message_chunk(Connection& c, std::uint64_t message_id, std::uint32_t seq) {
  auto row = c.query_one(sql::kMessageChunk, {message_id, seq});
  if (!row) throw DbError(0, false, "message " + std::to_string(message_id) + " lacks chunk " + std::to_string(seq));
  return row->take(0);
}

namespace {
UpdateResult commit_deletions_once(Connection& c, std::uint64_t user_id, const std::string& owner,
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
}  // namespace

UpdateResult commit_deletions(Connection& c, std::uint64_t user_id, const std::string& owner,
                              const std::vector<std::uint64_t>& entry_ids) {
  // A body shared with another maildrop or a queue row may be deleted by that side
  // at the same moment: InnoDB then picks one transaction to roll back; it runs again.
  for (int attempt = 1;; ++attempt) {
    try {
      return commit_deletions_once(c, user_id, owner, entry_ids);
    } catch (const DbError& e) {
      if (!e.is_deadlock() || e.connection_lost || attempt >= 5) throw;
    }
  }
}

}  // namespace shicks::store
