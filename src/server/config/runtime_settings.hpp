#pragma once
// Runtime settings: the knobs an admin changes live through the control socket
// (`shicksctl config set`, `shicksctl relay set`). They are stored in the database's
// `settings` table, created with these defaults on first start (and when an upgrade
// adds a key), and validated here, in pure code, before any write.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace shicks::config {

struct RuntimeSetting {
  std::string_view name;
  std::string_view default_value;
  std::string_view description;
  bool secret = false;  // never printed (relay.password)
};

const std::vector<RuntimeSetting>& runtime_settings();
const RuntimeSetting* find_runtime_setting(std::string_view name);

// nullopt when `value` is acceptable for `name`; else a one-line reason.
std::optional<std::string> validate_runtime_setting(std::string_view name, std::string_view value);

}  // namespace shicks::config
