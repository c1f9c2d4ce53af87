#pragma once
// What the SMTP (and later POP3) sessions ask of the database. Every function runs
// on a DB worker thread (through store::async_run) and throws DbError on
// infrastructure failure; domain outcomes are return values.
#include <cstdint>
#include <string>
#include <vector>

#include "server/store/connection.hpp"

namespace shicks::store {

// Bodies are stored in chunks of at most this many octets (design.md 3).
inline constexpr std::size_t kChunkBytes = 1024 * 1024;

struct AddressTargets {
  enum Kind { local, unknown_local, disabled, foreign } kind = foreign;
  std::vector<std::uint64_t> user_ids;  // enabled targets
};

// `address` is "local@domain" (domain lowercased). Exact address first, then the
// domain's catch-all; a domain we hold but an address we do not -> unknown_local.
AddressTargets lookup_address(Connection& c, const std::string& address, const std::string& domain);

// Does user `name` own `address` (directly, or through the domain's catch-all)?
bool sender_owned(Connection& c, const std::string& name, const std::string& address, const std::string& domain);

struct LoginResult {
  bool ok = false;
  std::string user;  // the user's NAME (also when they logged in with an address)
  std::uint64_t user_id = 0;
};
// Checks a password (with the constant cost of a real check for unknown users and
// disabled accounts); records the login time on success. Accepts the user name or
// one of the user's addresses as login.
LoginResult check_login(Connection& c, const std::string& login, const std::string& password);

struct Delivery {
  std::string envelope_from;            // "" for the null sender
  std::vector<std::uint64_t> local_users;  // mailboxes (deduplicated by the caller or here)
  std::vector<std::string> relay_recipients;
  std::string message;                  // trace headers + the message, CRLF line ends
  std::string header_from, subject;     // for listings
  std::string queue_id;                 // the session's id, also in the Received header
  std::string spam_keyword;             // tagged as spam by this keyword ("" = not tagged)
};
struct Stored {
  std::uint64_t message_id = 0;
  std::string queue_id;  // shown in "250 Ok: queued as ..."
};
// One transaction: the body once (chunked), one mailbox entry per local user (its
// size includes the Return-Path line POP3 prepends), one queue row per relayed
// recipient; for tagged spam, the message's flag and the keyword's hit. Returns
// after COMMIT.
Stored deliver(Connection& c, const Delivery& d);
// The same rows inside a transaction the caller holds.
Stored deliver_rows(Connection& c, const Delivery& d);
// Several deliveries in ONE transaction: the same rows as deliver() for each. Small
// messages go as one script (one round trip for all of them), larger ones by
// prepared statements in the same transaction. Throws DbError; after a refusal (not
// a lost connection) the transaction has been rolled back and nothing was written.
std::vector<Stored> deliver_batch(Connection& c, const std::vector<const Delivery*>& batch);

// The `addresses` change counter (0 before the first change).
std::uint64_t addresses_version(Connection& c);

// Removes message `message_id` (body and chunks) when no mailbox entry and no relay
// queue row refers to it any more. True when it was removed. Every path that drops
// a reference (POP3 QUIT, mailbox purge, queue deletion) calls this.
bool delete_body_if_unreferenced(Connection& c, std::uint64_t message_id);

// The octets POP3 sends for a stored message: the Return-Path line plus the body.
std::uint64_t mailbox_size(const std::string& envelope_from, std::uint64_t body_size);

}  // namespace shicks::store
