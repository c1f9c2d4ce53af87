#include "server/config/settings_snapshot.hpp"

namespace shicks::config {

bool SettingsSnapshot::apply(Values values, std::uint64_t version) {
  if (version < version_) return false;  // read before a state already held
  values_ = std::move(values);
  version_ = version;
  return true;
}

std::optional<std::string> SettingsSnapshot::find(const std::string& name) const {
  auto it = values_.find(name);
  if (it == values_.end()) return std::nullopt;
  return it->second;
}

}  // namespace shicks::config
