#pragma once
// What the control socket's admin commands ask of the database (shicksctl user,
// address, mailbox, relay, spam, queue, config). Every function runs on a DB worker
// thread (through store::async_run). Domain outcomes -- no such user, the address
// exists already, a malformed value -- are returned as a refusal: one line a person
// can act on. Infrastructure failures throw DbError.
//
// Writes to `settings` and `spam_keywords` bump their change counter in the same
// transaction, so other daemons on the database notice them.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/expected.hpp"
#include "server/config/runtime_settings.hpp"
#include "server/store/connection.hpp"

namespace shicks::admin {

using store::Connection;

template <class T>
using Outcome = Expected<T, std::string>;  // error: the refusal, for the administrator

// Times are ISO 8601 UTC ("2026-11-24T06:10:00Z"); "" when there is none.

// ---- users
struct UserSummary {
  std::string name;
  bool enabled = true;
  std::string created_at;
  std::string last_login_at;     // "" = never
  std::uint64_t addresses = 0;   // addresses that deliver to this user
  std::uint64_t messages = 0;    // in the mailbox
  std::uint64_t mailbox_bytes = 0;
};
struct UserAddress {
  std::string address;
  std::uint64_t users = 1;  // how many users the address delivers to (1: this one only)
};
struct UserDetail {
  UserSummary summary;
  std::vector<UserAddress> addresses;
};
struct NewUser {
  std::string name;
  std::string password;                // hashed here (yescrypt), never stored as given
  std::vector<std::string> addresses;  // each delivers to this user only
};
struct DeletedUser {
  std::string name;
  std::vector<std::string> addresses_removed;  // those that delivered to this user only
  std::uint64_t messages_removed = 0;
  std::uint64_t bodies_removed = 0;
};

Outcome<UserDetail> add_user(Connection& c, const NewUser& u);
// Deletes the user, their mailbox (and the bodies nobody else holds) and the
// addresses that delivered to them alone; aliases shared with others lose them.
Outcome<DeletedUser> delete_user(Connection& c, const std::string& name);
std::vector<UserSummary> list_users(Connection& c);
Outcome<UserDetail> show_user(Connection& c, const std::string& name);
Outcome<void> set_password(Connection& c, const std::string& name, const std::string& password);
// Returns whether the state changed (false: it already was).
Outcome<bool> set_enabled(Connection& c, const std::string& name, bool enabled);

// ---- addresses
struct AddressInfo {
  std::string address;
  bool catch_all = false;
  std::vector<std::string> users;  // empty: delivers nowhere (only after manual edits)
};
// A new address delivering to `users` (several: an alias / list). Refused when the
// address exists: delete it first to change its users.
Outcome<AddressInfo> add_address(Connection& c, const std::string& address, const std::vector<std::string>& users);
Outcome<AddressInfo> delete_address(Connection& c, const std::string& address);
// Every address, or those delivering to `user` (refused when the user does not exist).
Outcome<std::vector<AddressInfo>> list_addresses(Connection& c, const std::optional<std::string>& user);

// ---- mailboxes
struct MailboxMessage {
  std::uint64_t id = 0;  // the mailbox entry
  std::uint64_t size = 0;
  std::string received_at;
  std::string header_from;    // RFC 2047 encoded-words decoded
  std::string envelope_from;
  std::string subject;        // as a mail reader shows it: decoded, with the spam tag
  bool spam = false;          // tagged by the spam filter
  std::string spam_keyword;   // the keyword that matched ("" when not spam)
};
struct Purged {
  std::uint64_t messages = 0;
  std::uint64_t bytes = 0;
  std::uint64_t bodies_removed = 0;  // bodies no other mailbox or queue row held
};
Outcome<std::vector<MailboxMessage>> list_mailbox(Connection& c, const std::string& user);
// Empties a mailbox in one transaction; refused while a POP3 session holds it.
Outcome<Purged> purge_mailbox(Connection& c, const std::string& user);

// ---- runtime settings (config and relay)
struct Setting {
  std::string name;
  std::string value;  // "" for a secret (see is_set)
  std::string default_value;
  std::string description;
  bool secret = false;
  bool is_set = false;  // value is not empty (for secrets: whether one is stored)
};
// Every known setting, from the table (the default when a row is missing).
std::vector<Setting> list_settings(Connection& c, std::string_view prefix = "");
Outcome<Setting> get_setting(Connection& c, const std::string& name);
// Validated; refused for unknown keys and for secrets (they have their own command).
Outcome<Setting> set_setting(Connection& c, const std::string& name, const std::string& value);

struct RelayUpdate {
  std::string host;  // required
  std::optional<std::string> port, tls, username, password;
  std::optional<std::string> allow_plaintext_auth;  // "true"/"false"; not given: "false"
};
// Writes the given relay settings (the others keep their values, but
// relay.allow_plaintext_auth is always written: "false" unless given). An empty
// username also clears the password. Refused when the result could never send its
// password (config::check_relay_auth). Returns the relay.* settings afterwards.
Outcome<std::vector<Setting>> set_relay(Connection& c, const RelayUpdate& u);
// relay.host/port/tls/username/password/allow_plaintext_auth back to their defaults:
// no relaying.
std::vector<Setting> clear_relay(Connection& c);
// The settings that set_relay and clear_relay manage.
inline constexpr std::string_view kRelayKeys[] = {
    config::setting::relay_host.name,     config::setting::relay_port.name,
    config::setting::relay_tls.name,      config::setting::relay_username.name,
    config::setting::relay_password.name, config::setting::relay_allow_plaintext_auth.name};

// ---- spam keywords
struct Keyword {
  std::string keyword;
  std::uint64_t hits = 0;
  std::string last_hit_at;
  std::string created_at;
};
// All or nothing: refused when one exists already (compared as the database
// compares them: case and accents ignored) or is malformed. Returns them as stored.
Outcome<std::vector<std::string>> add_keywords(Connection& c, const std::vector<std::string>& keywords);
Outcome<std::vector<std::string>> delete_keywords(Connection& c, const std::vector<std::string>& keywords);
std::vector<Keyword> list_keywords(Connection& c);
struct Imported {
  std::uint64_t added = 0;
  std::uint64_t present = 0;  // already there (or given twice)
};
// Like add_keywords, but keywords already present are skipped, not refused.
Outcome<Imported> import_keywords(Connection& c, const std::vector<std::string>& keywords);

// ---- relay queue
struct QueueEntry {
  std::uint64_t id = 0;
  std::uint64_t message_id = 0;
  std::string sender, recipient;
  std::uint64_t attempts = 0;
  std::string next_attempt_at, last_attempt_at, last_error, claimed_by, claimed_until, created_at;
  std::uint64_t size = 0;
  std::string subject, header_from;
};
std::vector<QueueEntry> list_queue(Connection& c);
std::uint64_t queue_length(Connection& c);
Outcome<QueueEntry> show_queue(Connection& c, std::uint64_t id);
struct QueueDeleted {
  QueueEntry entry;
  bool body_removed = false;
};
// Deletes one row (no bounce) and the body when nothing else holds it.
Outcome<QueueDeleted> delete_queue(Connection& c, std::uint64_t id);

}  // namespace shicks::admin
