#pragma once
// Every SQL statement Shicks sends lives in this file (schema changes live in sql/).
// A statement's identity is its address, which keys the per-connection cache of
// prepared statements.

namespace shicks::store {

struct Sql {
  const char* text;
};

namespace sql {

// ---- schema bookkeeping (schema.cpp)
inline constexpr Sql kSchemaVersions{"SELECT version, name FROM schema_version ORDER BY version"};
inline constexpr Sql kRecordMigration{
    "INSERT INTO schema_version (version, name, applied_at) VALUES (?, ?, UTC_TIMESTAMP(6))"};
inline constexpr Sql kSchemaVersionTableExists{
    "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = "
    "'schema_version'"};
inline constexpr Sql kDurability{"SELECT @@global.innodb_flush_log_at_trx_commit"};
inline constexpr Sql kPing{"SELECT 1"};
// The managed database's tables and indexes, and its buffer pool (managed_db.cpp).
inline constexpr Sql kManagedDataAndPool{
    "SELECT COALESCE(SUM(data_length + index_length), 0), @@innodb_buffer_pool_size FROM information_schema.TABLES "
    "WHERE table_schema = DATABASE()"};

// ---- runtime settings (settings_store.cpp)
inline constexpr Sql kSettingInsertDefault{
    "INSERT IGNORE INTO settings (name, value, updated_at) VALUES (?, ?, UTC_TIMESTAMP(6))"};
inline constexpr Sql kSettingsAll{"SELECT name, value FROM settings ORDER BY name"};
// Bumped in the transaction of every write to `settings` (admin_store.cpp).
inline constexpr Sql kSettingsVersion{"SELECT value FROM change_counters WHERE name = 'settings'"};
inline constexpr Sql kSettingGet{"SELECT value FROM settings WHERE name = ?"};
// The relay settings that decide whether AUTH may go without TLS, locked for a
// change to one of them (admin_store.cpp).
inline constexpr Sql kSettingsLockRelayAuth{
    "SELECT name, value FROM settings WHERE name IN ('relay.allow_plaintext_auth', 'relay.host', 'relay.tls', "
    "'relay.username') ORDER BY name FOR UPDATE"};
inline constexpr Sql kSettingSet{
    "INSERT INTO settings (name, value, updated_at) VALUES (?, ?, UTC_TIMESTAMP(6)) "
    "ON DUPLICATE KEY UPDATE value = VALUES(value), updated_at = VALUES(updated_at)"};

// ---- spam filter (spam_store.cpp)
// The keyword list a daemon caches, and the counter that tells it the list changed
// (bumped with every change, by any daemon: admin_store.cpp).
// Bumped by the admin store when a user is deleted or disabled or an address deleted
// (daemon/address_cache.hpp); absent until the first such change.
inline constexpr Sql kAddressesVersion{"SELECT value FROM change_counters WHERE name = 'addresses'"};
inline constexpr Sql kSpamKeywordsVersion{"SELECT value FROM change_counters WHERE name = 'spam_keywords'"};
inline constexpr Sql kSpamKeywords{"SELECT keyword FROM spam_keywords ORDER BY id"};
// A hit: counted on the keyword (tagged mail in its delivery transaction).
inline constexpr Sql kSpamCountHit{
    "UPDATE spam_keywords SET hits = hits + 1, last_hit_at = UTC_TIMESTAMP(6) WHERE keyword = ?"};
inline constexpr Sql kSpamMarkMessage{"UPDATE messages SET spam = 1, spam_keyword = ? WHERE id = ?"};

// ---- POP3: mailbox leases, snapshot, retrieval, deletion (pop3_store.cpp)
// A lease is taken by inserting its row; an expired one is removed first. Times are
// the database's clock, so daemons on several hosts agree.
inline constexpr Sql kLeaseDropExpired{
    "DELETE FROM mailbox_leases WHERE user_id = ? AND expires_at < UTC_TIMESTAMP(6)"};
inline constexpr Sql kLeaseTake{
    "INSERT IGNORE INTO mailbox_leases (user_id, owner, acquired_at, expires_at) "
    "VALUES (?, ?, UTC_TIMESTAMP(6), UTC_TIMESTAMP(6) + INTERVAL ? SECOND)"};
inline constexpr Sql kLeaseRenew{
    "UPDATE mailbox_leases SET expires_at = UTC_TIMESTAMP(6) + INTERVAL ? SECOND WHERE user_id = ? AND owner = ?"};
inline constexpr Sql kLeaseRelease{"DELETE FROM mailbox_leases WHERE user_id = ? AND owner = ?"};
// The leases of one daemon, by owner prefix: its sessions' leases are renewed together
// (daemon/pop3_leases.hpp), and at start those of its earlier runs are void.
inline constexpr Sql kLeaseRenewPrefix{
    "UPDATE mailbox_leases SET expires_at = UTC_TIMESTAMP(6) + INTERVAL ? SECOND "
    "WHERE LEFT(owner, CHAR_LENGTH(?)) = ?"};
inline constexpr Sql kLeasesOfPrefix{
    "SELECT user_id, owner FROM mailbox_leases WHERE LEFT(owner, CHAR_LENGTH(?)) = ?"};
inline constexpr Sql kLeaseReleasePrefix{"DELETE FROM mailbox_leases WHERE LEFT(owner, CHAR_LENGTH(?)) = ?"};
// The maildrop: sizes and UIDLs only; no blob is read (design.md 3).
inline constexpr Sql kMaildropList{
    "SELECT id, size, uidl FROM mailbox_entries WHERE user_id = ? ORDER BY id"};
// Messages to retrieve, each with its first chunk (most messages have only that one):
// up to 32 entries in one round trip (RETR read-ahead). The IN list has a fixed
// length so one prepared statement serves every count: unused places repeat an id.
#define SHICKS_Q8 "?, ?, ?, ?, ?, ?, ?, ?"
inline constexpr unsigned kMessageStartsIds = 32;
inline constexpr Sql kMessageStarts{
    "SELECT e.id, m.id, m.envelope_from, m.chunk_count, c.data FROM mailbox_entries e "
    "JOIN messages m ON m.id = e.message_id JOIN message_chunks c ON c.message_id = m.id AND c.seq = 0 "
    "WHERE e.user_id = ? AND e.id IN (" SHICKS_Q8 ", " SHICKS_Q8 ", " SHICKS_Q8 ", " SHICKS_Q8 ")"};
#undef SHICKS_Q8
inline constexpr Sql kMessageChunk{"SELECT data FROM message_chunks WHERE message_id = ? AND seq = ?"};
inline constexpr Sql kEntryMessage{"SELECT message_id FROM mailbox_entries WHERE id = ? AND user_id = ?"};
inline constexpr Sql kDeleteEntry{"DELETE FROM mailbox_entries WHERE id = ? AND user_id = ?"};

// ---- SMTP: recipients, senders, logins, delivery (mail_store.cpp)
// Targets of an exact address or of the domain's catch-all ("@domain"); the exact
// address sorts first.
inline constexpr Sql kAddressTargets{
    "SELECT a.address, u.id, u.enabled FROM addresses a "
    "JOIN address_targets t ON t.address_id = a.id JOIN users u ON u.id = t.user_id "
    "WHERE a.address IN (?, ?) ORDER BY (a.address = ?) DESC, u.id"};
inline constexpr Sql kDomainHeld{"SELECT 1 FROM addresses WHERE domain = ? LIMIT 1"};
inline constexpr Sql kSenderOwned{
    "SELECT 1 FROM addresses a JOIN address_targets t ON t.address_id = a.id JOIN users u ON u.id = t.user_id "
    "WHERE u.name = ? AND a.address IN (?, ?) LIMIT 1"};
inline constexpr Sql kUserByName{"SELECT id, name, password_hash, enabled FROM users WHERE name = ?"};
// Login with an address: only when the address belongs to exactly one user.
inline constexpr Sql kUserByAddress{
    "SELECT u.id, u.name, u.password_hash, u.enabled FROM addresses a "
    "JOIN address_targets t ON t.address_id = a.id JOIN users u ON u.id = t.user_id WHERE a.address = ?"};
inline constexpr Sql kTouchLogin{"UPDATE users SET last_login_at = UTC_TIMESTAMP(6) WHERE id = ?"};
inline constexpr Sql kInsertMessage{
    "INSERT INTO messages (size, chunk_count, envelope_from, header_from, subject, created_at) "
    "VALUES (?, ?, ?, ?, ?, UTC_TIMESTAMP(6))"};
inline constexpr Sql kInsertChunk{"INSERT INTO message_chunks (message_id, seq, data) VALUES (?, ?, ?)"};
inline constexpr Sql kInsertMailboxEntry{
    "INSERT INTO mailbox_entries (user_id, message_id, size, uidl, received_at) "
    "VALUES (?, ?, ?, ?, UTC_TIMESTAMP(6))"};
// A body goes with its last reference (mailbox entry or relay queue row); its chunks
// follow through ON DELETE CASCADE.
inline constexpr Sql kDeleteUnreferencedMessage{
    "DELETE FROM messages WHERE id = ? "
    "AND NOT EXISTS (SELECT 1 FROM mailbox_entries WHERE message_id = ?) "
    "AND NOT EXISTS (SELECT 1 FROM relay_queue WHERE message_id = ?)"};
// The same rows as a script fragment (delivery batches, one round trip for many
// messages; Connection::run_script). {} are quote()d values or our own numbers; @m is
// the message id of the INSERT above it.
namespace script {
inline constexpr const char* kInsertMessage =
    "INSERT INTO messages (size, chunk_count, envelope_from, header_from, subject, created_at) "
    "VALUES ({}, {}, {}, {}, {}, UTC_TIMESTAMP(6));SET @m{} = LAST_INSERT_ID();";
inline constexpr const char* kSpamHit =
    "UPDATE messages SET spam = 1, spam_keyword = {0} WHERE id = @m{1};"
    "UPDATE spam_keywords SET hits = hits + 1, last_hit_at = UTC_TIMESTAMP(6) WHERE keyword = {0};";
inline constexpr const char* kChunksInsert = "INSERT INTO message_chunks (message_id, seq, data) VALUES ";
inline constexpr const char* kChunkRow = "(@m{}, {}, {})";
inline constexpr const char* kEntriesInsert =
    "INSERT INTO mailbox_entries (user_id, message_id, size, uidl, received_at) VALUES ";
// uidl: the message id in lowercase hex, then ".user.random" as deliver_rows makes it
inline constexpr const char* kEntryRow = "({0}, @m{1}, {2}, CONCAT(LOWER(HEX(@m{1})), '.{0:x}.{3}'), UTC_TIMESTAMP(6))";
inline constexpr const char* kRelayInsert =
    "INSERT INTO relay_queue (message_id, sender, recipient, next_attempt_at, created_at) VALUES ";
inline constexpr const char* kRelayRow = "(@m{}, {}, {}, UTC_TIMESTAMP(6), UTC_TIMESTAMP(6))";
}  // namespace script
inline constexpr Sql kInsertRelay{
    "INSERT INTO relay_queue (message_id, sender, recipient, next_attempt_at, created_at) "
    "VALUES (?, ?, ?, UTC_TIMESTAMP(6), UTC_TIMESTAMP(6))"};

// ---- relay queue runner (relay_store.cpp)
// A runner claims due rows it can lock at once (SKIP LOCKED passes over rows another
// daemon is claiming right now) and marks them with a lease (claimed_by,
// claimed_until); while the lease runs no other runner takes them, and once it has
// run out (its daemon died) they are due again. Results are written only where the
// lease is still ours. Times are the database's clock, so daemons on several hosts agree.
inline constexpr Sql kRelayDue{
    "SELECT id FROM relay_queue WHERE next_attempt_at <= UTC_TIMESTAMP(6) "
    "AND (claimed_until IS NULL OR claimed_until < UTC_TIMESTAMP(6)) ORDER BY next_attempt_at, id LIMIT ? "
    "FOR UPDATE SKIP LOCKED"};
// A claim clears a flush mark: this attempt starts after the flush it stood for.
inline constexpr Sql kRelayClaim{
    "UPDATE relay_queue SET claimed_by = ?, claimed_until = UTC_TIMESTAMP(6) + INTERVAL ? SECOND, "
    "flush_requested = 0 WHERE id = ?"};
inline constexpr Sql kRelayClaimedRow{
    "SELECT q.id, q.message_id, q.sender, q.recipient, q.attempts, "
    "TIMESTAMPDIFF(SECOND, q.created_at, UTC_TIMESTAMP(6)), TIMESTAMPDIFF(SECOND, '1970-01-01', q.created_at), "
    "m.size, m.chunk_count FROM relay_queue q JOIN messages m ON m.id = q.message_id WHERE q.id = ?"};
// Milliseconds until a row becomes due (or its lease runs out); NULL: the queue is empty.
// The earliest unclaimed row is the first of ix_relay_queue_claim's NULL range; claimed
// rows (being sent, or left by a daemon that died) are few (sql/0003).
inline constexpr Sql kRelayNextDue{
    "SELECT TIMESTAMPDIFF(MICROSECOND, UTC_TIMESTAMP(6), LEAST(COALESCE(t.a, t.b), COALESCE(t.b, t.a))) DIV 1000 "
    "FROM (SELECT (SELECT MIN(next_attempt_at) FROM relay_queue WHERE claimed_until IS NULL) AS a, "
    "(SELECT MIN(GREATEST(next_attempt_at, claimed_until)) FROM relay_queue WHERE claimed_until IS NOT NULL) AS b) t"};
inline constexpr Sql kRelayDone{"DELETE FROM relay_queue WHERE id = ? AND claimed_by = ?"};
// A deferral reads (and locks) the flush mark first: a `queue flush` during the
// attempt makes the retry immediate (delay 0) instead of the backoff.
inline constexpr Sql kRelayFlushRequested{
    "SELECT flush_requested FROM relay_queue WHERE id = ? AND claimed_by = ? FOR UPDATE"};
inline constexpr Sql kRelayDefer{
    "UPDATE relay_queue SET attempts = attempts + 1, last_attempt_at = UTC_TIMESTAMP(6), last_error = ?, "
    "next_attempt_at = UTC_TIMESTAMP(6) + INTERVAL ? SECOND, claimed_by = NULL, claimed_until = NULL, "
    "flush_requested = 0 WHERE id = ? AND claimed_by = ?"};
inline constexpr Sql kRelayRelease{
    "UPDATE relay_queue SET claimed_by = NULL, claimed_until = NULL WHERE id = ? AND claimed_by = ?"};
// At start: the leases of this daemon's previous run (same owner prefix) are void.
inline constexpr Sql kRelayReleaseOwner{
    "UPDATE relay_queue SET claimed_by = NULL, claimed_until = NULL WHERE LEFT(claimed_by, CHAR_LENGTH(?)) = ?"};
// `queue flush`: everything is due now; a lease in force stays (that row is being
// sent) and gets the flush mark, so that the attempt, should it end deferred, is
// followed by another at once (sql/0002_relay_flush_requested.sql).
inline constexpr Sql kRelayFlush{
    "UPDATE relay_queue SET next_attempt_at = UTC_TIMESTAMP(6), "
    "flush_requested = (claimed_until IS NOT NULL AND claimed_until >= UTC_TIMESTAMP(6))"};

// ---- administration (admin_store.cpp)
// Times are returned as ISO 8601 UTC text ("2026-11-24T06:10:00Z"), NULL when unset.
#define SHICKS_ISO(col) "DATE_FORMAT(" col ", '%Y-%m-%dT%H:%i:%SZ')"
inline constexpr Sql kAdminBumpCounter{
    "INSERT INTO change_counters (name, value) VALUES (?, 1) ON DUPLICATE KEY UPDATE value = value + 1"};
// Users
inline constexpr Sql kAdminUserInsert{
    "INSERT INTO users (name, password_hash, enabled, created_at) VALUES (?, ?, 1, UTC_TIMESTAMP(6))"};
inline constexpr Sql kAdminUserId{"SELECT id, enabled FROM users WHERE name = ? FOR UPDATE"};
#define SHICKS_USER_COLUMNS                                                                       \
  "SELECT u.name, u.enabled, " SHICKS_ISO("u.created_at") ", " SHICKS_ISO("u.last_login_at") ", " \
  "(SELECT COUNT(*) FROM address_targets t WHERE t.user_id = u.id), "                             \
  "(SELECT COUNT(*) FROM mailbox_entries e WHERE e.user_id = u.id), "                             \
  "(SELECT COALESCE(SUM(e.size), 0) FROM mailbox_entries e WHERE e.user_id = u.id) FROM users u "
inline constexpr Sql kAdminUserSummaries{SHICKS_USER_COLUMNS "ORDER BY u.name"};
inline constexpr Sql kAdminUserSummary{SHICKS_USER_COLUMNS "WHERE u.name = ?"};
#undef SHICKS_USER_COLUMNS
// A user's addresses with how many users each one delivers to (1: theirs alone).
inline constexpr Sql kAdminUserAddresses{
    "SELECT a.address, (SELECT COUNT(*) FROM address_targets o WHERE o.address_id = a.id) "
    "FROM addresses a JOIN address_targets t ON t.address_id = a.id WHERE t.user_id = ? ORDER BY a.address"};
inline constexpr Sql kAdminUserSetPassword{"UPDATE users SET password_hash = ? WHERE id = ?"};
inline constexpr Sql kAdminUserSetEnabled{"UPDATE users SET enabled = ? WHERE id = ?"};
inline constexpr Sql kAdminUserDelete{"DELETE FROM users WHERE id = ?"};
// Addresses that deliver to this user only: they go with the user.
inline constexpr Sql kAdminUserSoleAddresses{
    "SELECT a.id, a.address FROM addresses a JOIN address_targets t ON t.address_id = a.id "
    "WHERE t.user_id = ? AND NOT EXISTS (SELECT 1 FROM address_targets o WHERE o.address_id = a.id AND o.user_id <> ?) "
    "ORDER BY a.address FOR UPDATE"};
// Addresses
inline constexpr Sql kAdminAddressId{"SELECT id FROM addresses WHERE address = ? FOR UPDATE"};
inline constexpr Sql kAdminAddressInsert{
    "INSERT INTO addresses (address, domain, created_at) VALUES (?, ?, UTC_TIMESTAMP(6))"};
inline constexpr Sql kAdminTargetInsert{"INSERT INTO address_targets (address_id, user_id) VALUES (?, ?)"};
inline constexpr Sql kAdminAddressDelete{"DELETE FROM addresses WHERE id = ?"};
inline constexpr Sql kAdminAddressTargets{
    "SELECT u.name FROM address_targets t JOIN users u ON u.id = t.user_id WHERE t.address_id = ? ORDER BY u.name"};
// Every address with its users (NULL name: an address without a target).
inline constexpr Sql kAdminAddressesAll{
    "SELECT a.address, u.name FROM addresses a LEFT JOIN address_targets t ON t.address_id = a.id "
    "LEFT JOIN users u ON u.id = t.user_id ORDER BY a.address, u.name"};
inline constexpr Sql kAdminAddressesOfUser{
    "SELECT a.address, u.name FROM addresses a JOIN address_targets t ON t.address_id = a.id "
    "JOIN users u ON u.id = t.user_id WHERE a.id IN (SELECT t2.address_id FROM address_targets t2 "
    "JOIN users u2 ON u2.id = t2.user_id WHERE u2.name = ?) ORDER BY a.address, u.name"};
// Mailboxes
inline constexpr Sql kAdminMailboxList{
    "SELECT e.id, e.size, " SHICKS_ISO("e.received_at") ", m.header_from, m.envelope_from, m.subject, m.spam, "
    "m.spam_keyword "
    "FROM mailbox_entries e JOIN messages m ON m.id = e.message_id WHERE e.user_id = ? ORDER BY e.id"};
inline constexpr Sql kAdminMailboxLease{
    "SELECT owner FROM mailbox_leases WHERE user_id = ? AND expires_at > UTC_TIMESTAMP(6)"};
inline constexpr Sql kAdminMailboxMessages{
    "SELECT message_id, size FROM mailbox_entries WHERE user_id = ? ORDER BY id FOR UPDATE"};
inline constexpr Sql kAdminMailboxDeleteAll{"DELETE FROM mailbox_entries WHERE user_id = ?"};
// Spam keywords
inline constexpr Sql kAdminKeywordFind{"SELECT keyword FROM spam_keywords WHERE keyword = ? FOR UPDATE"};
inline constexpr Sql kAdminKeywordInsert{
    "INSERT INTO spam_keywords (keyword, created_at) VALUES (?, UTC_TIMESTAMP(6))"};
inline constexpr Sql kAdminKeywordInsertIgnore{
    "INSERT IGNORE INTO spam_keywords (keyword, created_at) VALUES (?, UTC_TIMESTAMP(6))"};
inline constexpr Sql kAdminKeywordDelete{"DELETE FROM spam_keywords WHERE keyword = ?"};
inline constexpr Sql kAdminKeywordList{
    "SELECT keyword, hits, " SHICKS_ISO("last_hit_at") ", " SHICKS_ISO("created_at")
    " FROM spam_keywords ORDER BY keyword"};
// Relay queue
#define SHICKS_QUEUE_COLUMNS                                                                                  \
  "SELECT q.id, q.message_id, q.sender, q.recipient, q.attempts, " SHICKS_ISO("q.next_attempt_at") ", "      \
  SHICKS_ISO("q.last_attempt_at") ", q.last_error, q.claimed_by, " SHICKS_ISO("q.claimed_until") ", "        \
  SHICKS_ISO("q.created_at") ", m.size, m.subject, m.header_from FROM relay_queue q JOIN messages m ON m.id = q.message_id "
inline constexpr Sql kAdminQueueList{SHICKS_QUEUE_COLUMNS "ORDER BY q.id"};
inline constexpr Sql kAdminQueueOne{SHICKS_QUEUE_COLUMNS "WHERE q.id = ?"};
#undef SHICKS_QUEUE_COLUMNS
#undef SHICKS_ISO
inline constexpr Sql kAdminQueueCount{"SELECT COUNT(*) FROM relay_queue"};
inline constexpr Sql kAdminQueueMessage{"SELECT message_id FROM relay_queue WHERE id = ? FOR UPDATE"};
inline constexpr Sql kAdminQueueDelete{"DELETE FROM relay_queue WHERE id = ?"};

}  // namespace sql
}  // namespace shicks::store
