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
