#pragma once
// What the POP3 sessions ask of the database. Every function runs on a DB worker
// thread (through store::async_run) and throws DbError on infrastructure failure;
// domain outcomes are return values.
//
// A maildrop is locked by a lease row (RFC 1939 8: exclusive access) held in the
// database, so several shicksd instances on one database stay correct: `owner` is
// unique per session and starts with the daemon's own prefix; the daemon renews the
// leases of its live sessions together, a lease expires by itself when a crashed
// daemon can no longer renew it, and a restarted daemon voids those of its earlier run.
#include <cstdint>
#include <string>
#include <vector>

#include "server/store/connection.hpp"

namespace shicks::store {

struct MaildropMessage {
  std::uint64_t entry_id = 0;  // mailbox_entries.id
  std::uint64_t size = 0;      // octets RETR sends before byte-stuffing
  std::string uidl;
};

struct Maildrop {
  bool in_use = false;  // another session holds the lease; nothing else is set
  std::vector<MaildropMessage> messages;
};

// Takes the lease of `user_id` for `lease_seconds` (replacing an expired one) and
// lists the maildrop in the same transaction. No blob is read.
Maildrop open_maildrop(Connection& c, std::uint64_t user_id, const std::string& owner, unsigned lease_seconds);

// Extends the lease. False when it is no longer ours (it expired and was taken).
bool renew_lease(Connection& c, std::uint64_t user_id, const std::string& owner, unsigned lease_seconds);

// Gives the lease up (if it is still ours).
void release_lease(Connection& c, std::uint64_t user_id, const std::string& owner);

// The leases of one daemon, whose owners all start with one prefix
// (daemon/pop3_leases.hpp). renew_leases() extends each of them by `lease_seconds`
// (an expired one that nobody took is ours again) and lists those it holds now;
// release_leases() removes them (at start: the leases of this daemon's earlier run,
// whose sessions are gone).
struct HeldLease {
  std::uint64_t user_id = 0;
  std::string owner;
};
std::vector<HeldLease> renew_leases(Connection& c, const std::string& owner_prefix, unsigned lease_seconds);
std::uint64_t release_leases(Connection& c, const std::string& owner_prefix);

// The start of a message: its body id, envelope sender (for Return-Path), number of
// chunks and the first chunk. found = false when the entry is gone.
struct MessageStart {
  bool found = false;
  std::uint64_t message_id = 0;
  std::string envelope_from;
  std::uint32_t chunk_count = 0;
  std::string first_chunk;
};
MessageStart read_message_start(Connection& c, std::uint64_t user_id, std::uint64_t entry_id);

// The starts of several entries of `user_id`, one per id in the order given (found =
// false for an entry that is gone). Up to kMessageStartsPerQuery ids take one
// statement; more take one per that many.
inline constexpr std::size_t kMessageStartsPerQuery = 32;
std::vector<MessageStart> read_message_starts(Connection& c, std::uint64_t user_id,
                                              const std::vector<std::uint64_t>& entry_ids);

// Chunk `seq` (1..chunk_count-1) of a body. Throws DbError when it is missing.
std::string read_message_chunk(Connection& c, std::uint64_t message_id, std::uint32_t seq);

// The UPDATE state (RFC 1939 6): in one transaction, checks the lease is still ours
// and releases it, removes the marked entries, and removes each body whose last
// reference went with them. lease_lost = true: nothing was changed.
struct UpdateResult {
  bool lease_lost = false;
  std::uint64_t entries_deleted = 0;
  std::uint64_t bodies_deleted = 0;
};
UpdateResult commit_deletions(Connection& c, std::uint64_t user_id, const std::string& owner,
                              const std::vector<std::uint64_t>& entry_ids);

}  // namespace shicks::store
