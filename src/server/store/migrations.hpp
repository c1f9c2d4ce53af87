#pragma once
// The schema migrations compiled into shicksd (from sql/NNNN_name.sql) and the pure
// rules about them. Applying them is schema.cpp's job.
#include <string>
#include <string_view>
#include <vector>

namespace shicks::store {

struct Migration {
  int version;       // NNNN of the file name
  const char* name;  // the file name
  const char* text;  // its contents
};

// Generated at build time, ordered by version.
const std::vector<Migration>& embedded_migrations();

// An empty string when versions run 1, 2, 3... without gaps or repeats; else why not.
std::string check_sequence(const std::vector<Migration>& list);

// Splits a migration into statements: a ';' ending a line (outside quotes and
// comments) ends a statement; '--' comment lines and blank statements are dropped.
std::vector<std::string> split_statements(std::string_view text);

}  // namespace shicks::store
