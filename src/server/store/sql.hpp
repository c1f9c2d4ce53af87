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

}  // namespace sql
}  // namespace shicks::store
