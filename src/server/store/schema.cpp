#include "server/store/schema.hpp"

#include <map>

#include <fmt/core.h>

#include "common/log.hpp"
#include "server/store/sql.hpp"

namespace shicks::store {

namespace {
constexpr const char* kCreateSchemaVersion =
    "CREATE TABLE IF NOT EXISTS schema_version ("
    " version INT UNSIGNED NOT NULL PRIMARY KEY,"
    " name VARCHAR(255) NOT NULL,"
    " applied_at DATETIME(6) NOT NULL"
    ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci";
}

void check_durability(Connection& c, bool allow_unsafe) {
  auto row = c.query_one(sql::kDurability);
  std::string value = row ? row->str(0) : "?";
  if (value == "1") return;
  if (allow_unsafe) {
    log::warn("db.unsafe_durability").kv("innodb_flush_log_at_trx_commit", value);
    return;
  }
  throw StartupError(fmt::format(
      "the database server has innodb_flush_log_at_trx_commit = {}: an accepted message could be lost in a crash. "
      "Set it to 1 on the server, or set database.allow_unsafe_durability = true to accept the risk",
      value));
}

MigrationReport migrate(Connection& c, const std::vector<Migration>& known) {
  if (auto err = check_sequence(known); !err.empty()) throw StartupError("bad migration list: " + err);
  c.exec_text(kCreateSchemaVersion);

  std::map<int, std::string> applied;
  for (auto& row : c.query(sql::kSchemaVersions)) applied[int(row.i64(0))] = row.str(1);

  MigrationReport report;
  report.before = applied.empty() ? 0 : applied.rbegin()->first;
  int newest_known = known.empty() ? 0 : known.back().version;
  if (report.before > newest_known)
    throw StartupError(fmt::format(
        "the database schema is at version {} but this shicksd knows only up to version {}: it was written by a "
        "newer Shicks. Run that version (or newer) of shicksd",
        report.before, newest_known));

  for (const auto& m : known) {
    if (auto it = applied.find(m.version); it != applied.end()) {
      if (it->second != m.name)
        throw StartupError(fmt::format("schema_version records migration {} as \"{}\" but this shicksd has \"{}\"",
                                       m.version, it->second, m.name));
      continue;
    }
    log::info("db.migrate").kv("version", m.version).kv("name", m.name);
    for (const auto& stmt : split_statements(m.text)) {
      try {
        c.exec_text(stmt);
      } catch (const DbError& e) {
        throw StartupError(fmt::format("migration {} failed: {}", m.name, e.what()));
      }
    }
    try {
      c.exec(sql::kRecordMigration, {m.version, m.name});
    } catch (const DbError& e) {
      // Another daemon on the same database applied it at the same moment; the
      // migrations are written to be idempotent (IF NOT EXISTS / INSERT IGNORE).
      if (!e.is_duplicate_key()) throw;
    }
    report.applied.emplace_back(m.name);
  }
  report.after = newest_known;
  return report;
}

void ping(Connection& c) { c.query_one(sql::kPing); }

void create_database(Connection& c, const std::string& name) {
  // `name` is validated by the config loader (letters, digits, '_' and '$').
  c.exec_text(fmt::format("CREATE DATABASE IF NOT EXISTS `{}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci", name));
}

}  // namespace shicks::store
