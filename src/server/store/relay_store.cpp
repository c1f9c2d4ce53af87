#include "server/store/relay_store.hpp"

#include <algorithm>

#include "server/store/mail_store.hpp"
#include "server/store/sql.hpp"

namespace shicks::store::relay {

std::vector<QueuedRecipient> claim_due(Connection& c, const std::string& owner, unsigned lease_seconds,
                                       unsigned limit) {
  std::vector<std::uint64_t> ids = in_transaction(c, [&] {
    std::vector<std::uint64_t> out;
    for (const auto& row : c.query(sql::kRelayDue, {limit})) out.push_back(row.u64(0));
    for (auto id : out) c.exec(sql::kRelayClaim, {owner, lease_seconds, id});
    return out;
  });
  std::vector<QueuedRecipient> claimed;
  for (auto id : ids) {
    auto row = c.query_one(sql::kRelayClaimedRow, {id});
    if (!row) continue;  // deleted meanwhile (queue del)
    QueuedRecipient q;
    q.id = row->u64(0);
    q.message_id = row->u64(1);
    q.sender = row->take(2);
    q.recipient = row->take(3);
    q.attempts = row->u64(4);
    q.age_seconds = std::uint64_t(std::max<std::int64_t>(0, row->i64(5)));
    q.queued_unix = row->i64(6);
    q.size = row->u64(7);
    q.chunk_count = row->u64(8);
    claimed.push_back(std::move(q));
  }
  std::stable_sort(claimed.begin(), claimed.end(),
                   [](const QueuedRecipient& a, const QueuedRecipient& b) { return a.message_id < b.message_id; });
  return claimed;
}

std::optional<std::int64_t> ms_until_due(Connection& c) {
  auto row = c.query_one(sql::kRelayNextDue);
  if (!row || row->is_null(0)) return std::nullopt;
  return row->i64(0);
}

std::string read_chunk(Connection& c, std::uint64_t message_id, std::uint64_t seq) {
  auto row = c.query_one(sql::kMessageChunk, {message_id, seq});
  if (!row) throw DbError(0, false, "message " + std::to_string(message_id) + " has no chunk " + std::to_string(seq));
  return row->take(0);
}

std::uint64_t remove(Connection& c, const std::string& owner, std::uint64_t message_id,
                     const std::vector<std::uint64_t>& ids) {
  // May meet a POP3 QUIT removing the body's last mailbox entry (pop3_store.cpp).
  return in_transaction_retrying(c, [&] {
    std::uint64_t n = 0;
    for (auto id : ids) n += c.exec(sql::kRelayDone, {id, owner});
    delete_body_if_unreferenced(c, message_id);
    return n;
  });
}

std::vector<std::uint64_t> defer(Connection& c, const std::string& owner, const std::vector<Deferral>& rows) {
  // Rows are locked in id order, as `queue flush` (a scan of the primary key) locks
  // them; a deadlock with it all the same is retried.
  std::vector<const Deferral*> sorted;
  for (const auto& d : rows) sorted.push_back(&d);
  std::sort(sorted.begin(), sorted.end(), [](const Deferral* a, const Deferral* b) { return a->id < b->id; });
  return in_transaction_retrying(c, [&] {
    std::vector<std::uint64_t> flushed;
    for (const Deferral* d : sorted) {
      auto mark = c.query_one(sql::kRelayFlushRequested, {d->id, owner});
      if (!mark) continue;  // no longer ours (the lease ran out) or deleted
      bool now = mark->i64(0) != 0;
      std::string error = d->error.substr(0, 1000);  // last_error is VARCHAR(1024)
      std::uint64_t delay = now ? 0 : d->delay_seconds;
      c.exec(sql::kRelayDefer, {error, delay, d->id, owner});
      if (now) flushed.push_back(d->id);
    }
    return flushed;
  });
}

void release(Connection& c, const std::string& owner, const std::vector<std::uint64_t>& ids) {
  in_transaction(c, [&] {
    for (auto id : ids) c.exec(sql::kRelayRelease, {id, owner});
  });
}

std::uint64_t release_owner_prefix(Connection& c, const std::string& prefix) {
  return c.exec(sql::kRelayReleaseOwner, {prefix, prefix});
}

std::uint64_t flush(Connection& c) {
  return in_transaction_retrying(c, [&] { return c.exec(sql::kRelayFlush); });
}

}  // namespace shicks::store::relay
