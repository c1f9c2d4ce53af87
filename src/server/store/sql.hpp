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

// ---- runtime settings (settings_store.cpp)
inline constexpr Sql kSettingInsertDefault{
    "INSERT IGNORE INTO settings (name, value, updated_at) VALUES (?, ?, UTC_TIMESTAMP(6))"};
inline constexpr Sql kSettingsAll{"SELECT name, value FROM settings ORDER BY name"};
inline constexpr Sql kSettingGet{"SELECT value FROM settings WHERE name = ?"};
inline constexpr Sql kSettingSet{
    "INSERT INTO settings (name, value, updated_at) VALUES (?, ?, UTC_TIMESTAMP(6)) "
    "ON DUPLICATE KEY UPDATE value = VALUES(value), updated_at = VALUES(updated_at)"};

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
// The maildrop: sizes and UIDLs only; no blob is read (design.md 3).
inline constexpr Sql kMaildropList{
    "SELECT id, size, uidl FROM mailbox_entries WHERE user_id = ? ORDER BY id"};
// A message to retrieve, with its first chunk (most messages have only that one).
inline constexpr Sql kMessageFirstChunk{
    "SELECT m.id, m.envelope_from, m.chunk_count, c.data FROM mailbox_entries e "
    "JOIN messages m ON m.id = e.message_id JOIN message_chunks c ON c.message_id = m.id AND c.seq = 0 "
    "WHERE e.id = ? AND e.user_id = ?"};
inline constexpr Sql kMessageChunk{"SELECT data FROM message_chunks WHERE message_id = ? AND seq = ?"};
inline constexpr Sql kEntryMessage{"SELECT message_id FROM mailbox_entries WHERE id = ? AND user_id = ?"};
inline constexpr Sql kDeleteEntry{"DELETE FROM mailbox_entries WHERE id = ? AND user_id = ?"};
// A body goes with its last reference (mailbox entry or relay queue row); its chunks
// follow through ON DELETE CASCADE.
inline constexpr Sql kDeleteUnreferencedMessage{
    "DELETE FROM messages WHERE id = ? "
    "AND NOT EXISTS (SELECT 1 FROM mailbox_entries WHERE message_id = ?) "
    "AND NOT EXISTS (SELECT 1 FROM relay_queue WHERE message_id = ?)"};

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
inline constexpr Sql kInsertRelay{
    "INSERT INTO relay_queue (message_id, sender, recipient, next_attempt_at, created_at) "
    "VALUES (?, ?, ?, UTC_TIMESTAMP(6), UTC_TIMESTAMP(6))"};

}  // namespace sql
}  // namespace shicks::store
