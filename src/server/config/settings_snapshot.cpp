#include "server/config/settings_snapshot.hpp"

#include "common/strings.hpp"

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

namespace {
std::string_view default_of(std::string_view name) {
  const RuntimeSetting* s = find_runtime_setting(name);
  return s ? s->default_value : std::string_view();
}
}  // namespace

std::string SettingsSnapshot::get(Setting<std::string> key) const {
  auto it = values_.find(key.name);
  return it != values_.end() ? it->second : std::string(default_of(key.name));
}

bool SettingsSnapshot::get(Setting<bool> key) const {
  std::string v = get(Setting<std::string>{key.name});
  if (v != "true" && v != "false") v = default_of(key.name);
  return v == "true";
}

unsigned SettingsSnapshot::get(Setting<unsigned> key) const {
  auto v = parse_u64(get(Setting<std::string>{key.name}));
  if (!v) v = parse_u64(default_of(key.name));
  return v ? unsigned(*v) : 0;
}

}  // namespace shicks::config
