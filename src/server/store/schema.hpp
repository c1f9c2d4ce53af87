#pragma once
// Start-up checks against the database: durability and schema migrations.
#include <stdexcept>
#include <string>
#include <vector>

#include "common/startup_error.hpp"
#include "server/store/connection.hpp"
#include "server/store/migrations.hpp"

namespace shicks::store {

// RFC-grade promise "250 means committed" needs innodb_flush_log_at_trx_commit = 1.
void check_durability(Connection& c, bool allow_unsafe);

struct MigrationReport {
  int before = 0;  // highest version applied before
  int after = 0;   // highest version applied now
  std::vector<std::string> applied;
};

// Applies the migrations not yet recorded in schema_version, in order. Refuses a
// database whose schema is newer than `known` or whose history disagrees with it.
MigrationReport migrate(Connection& c, const std::vector<Migration>& known);

// One round trip; throws DbError when the database does not answer.
void ping(Connection& c);

// Creates the database (managed mode bootstrap).
void create_database(Connection& c, const std::string& name);

}  // namespace shicks::store
