#pragma once
// The `settings` table: runtime settings with their defaults.
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "server/store/connection.hpp"

namespace shicks::store {

// Inserts every known setting that is missing (first start, or a new key after an
// upgrade); never overwrites an admin's value. Returns how many were created.
unsigned write_default_settings(Connection& c);

std::vector<std::pair<std::string, std::string>> all_settings(Connection& c);

// The 'settings' change counter (0 when absent): it moves with every write.
std::uint64_t settings_version(Connection& c);

}  // namespace shicks::store
