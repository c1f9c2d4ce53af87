#pragma once
// What the relay queue runner asks of the database (see sql.hpp, "relay queue
// runner"). Every function runs on a DB worker thread and throws DbError on
// infrastructure failure.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "server/store/connection.hpp"

namespace shicks::store::relay {

struct QueuedRecipient {
  std::uint64_t id = 0;
  std::uint64_t message_id = 0;
  std::string sender;  // "" for the null sender
  std::string recipient;
  std::uint64_t attempts = 0;     // failed attempts so far
  std::uint64_t age_seconds = 0;  // since it was queued
  std::int64_t queued_unix = 0;   // when it was queued (Unix time)
  std::uint64_t size = 0;         // the message's octets
  std::uint64_t chunk_count = 0;
};

// Claims up to `limit` due rows for `owner` for `lease_seconds`, in one short
// transaction; returns them ordered by message, then id.
std::vector<QueuedRecipient> claim_due(Connection& c, const std::string& owner, unsigned lease_seconds, unsigned limit);
// Milliseconds until the next row is due (<= 0: now); nullopt: the queue is empty.
std::optional<std::int64_t> ms_until_due(Connection& c);
// One chunk of a message body.
std::string read_chunk(Connection& c, std::uint64_t message_id, std::uint64_t seq);

// Removes delivered (or bounced) rows still claimed by `owner`, and the body once
// nothing else holds it. Returns the number of rows removed.
std::uint64_t remove(Connection& c, const std::string& owner, std::uint64_t message_id,
                     const std::vector<std::uint64_t>& ids);
struct Deferral {
  std::uint64_t id = 0;
  std::uint64_t delay_seconds = 0;
  std::string error;
};
// Records temporary failures of rows still claimed by `owner`: each is due again
// after its delay, or at once when `queue flush` ran during the attempt (the row's
// flush mark). Returns the ids of the rows retried at once for that reason.
std::vector<std::uint64_t> defer(Connection& c, const std::string& owner, const std::vector<Deferral>& rows);
// Gives rows back without counting an attempt (shutdown, a batch cut short).
void release(Connection& c, const std::string& owner, const std::vector<std::uint64_t>& ids);
// Releases every lease whose owner starts with `prefix` (this daemon's earlier runs).
std::uint64_t release_owner_prefix(Connection& c, const std::string& prefix);
// Makes every row due now, and marks the rows leased to an attempt in progress so
// that a deferral of that attempt is retried at once; returns the number of rows.
std::uint64_t flush(Connection& c);

}  // namespace shicks::store::relay
