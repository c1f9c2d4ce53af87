#include "server/store/settings_store.hpp"

#include "server/config/runtime_settings.hpp"
#include "server/store/sql.hpp"

namespace shicks::store {

unsigned write_default_settings(Connection& c) {
  unsigned created = 0;
  in_transaction(c, [&] {
    for (const auto& s : config::runtime_settings())
      created += unsigned(c.exec(sql::kSettingInsertDefault, {s.name, s.default_value}));
  });
  return created;
}

std::vector<std::pair<std::string, std::string>> all_settings(Connection& c) {
  std::vector<std::pair<std::string, std::string>> out;
  for (auto& row : c.query(sql::kSettingsAll)) out.emplace_back(row.take(0), row.take(1));
  return out;
}

std::uint64_t settings_version(Connection& c) {
  auto row = c.query_one(sql::kSettingsVersion);
  return row ? row->u64(0) : 0;
}

}  // namespace shicks::store
