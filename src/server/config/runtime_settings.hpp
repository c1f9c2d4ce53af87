#pragma once
// Runtime settings: the knobs an admin changes live through the control socket
// (`shicksctl config set`, `shicksctl relay set`). They are stored in the database's
// `settings` table, created with these defaults on first start (and when an upgrade
// adds a key), and validated here, in pure code, before any write.
//
// Adding a setting: its key below, its row in runtime_settings() (runtime_settings.cpp),
// its entry in man/shicksctl.8 (the unit tests check the page against the table), and
// the key in tests/unit/config/runtime_settings_test.cpp.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace shicks::config {

// The values a runtime setting takes. Every value is checked for control characters
// first; then by its kind:
struct SettingRule {
  enum class Kind {
    boolean,  // "true" or "false"
    choice,   // one of `choices`
    integer,  // a whole number from `min` to `max`
    host,     // a host name or address: letters, digits, '.', '-', ':', '[' and ']'
    text,     // at most 255 characters
  };
  Kind kind = Kind::text;
  std::vector<std::string_view> choices;
  std::uint64_t min = 0, max = 0;
};

struct RuntimeSetting {
  std::string_view name;
  std::string_view default_value;
  std::string_view description;  // one line, shown by `shicksctl config list`
  SettingRule rule;
  bool secret = false;  // never printed (relay.password)
};

// The key of one runtime setting, for reading its value typed (SettingsSnapshot::get):
// bool for a boolean, unsigned for an integer, std::string for the other kinds.
template <class T>
struct Setting {
  std::string_view name;
};

// Every runtime setting's key; runtime_settings() has one row for each.
namespace setting {
inline constexpr Setting<bool> auth_allow_plaintext_on_loopback{"auth.allow_plaintext_on_loopback"};
inline constexpr Setting<unsigned> auth_max_failures{"auth.max_failures"};
inline constexpr Setting<unsigned> auth_ban_seconds{"auth.ban_seconds"};
inline constexpr Setting<unsigned> pop3_lease_seconds{"pop3.lease_seconds"};
inline constexpr Setting<std::string> relay_host{"relay.host"};
inline constexpr Setting<unsigned> relay_port{"relay.port"};
inline constexpr Setting<std::string> relay_tls{"relay.tls"};
inline constexpr Setting<bool> relay_tls_verify{"relay.tls_verify"};
inline constexpr Setting<std::string> relay_username{"relay.username"};
inline constexpr Setting<std::string> relay_password{"relay.password"};
inline constexpr Setting<bool> relay_allow_plaintext_auth{"relay.allow_plaintext_auth"};
inline constexpr Setting<unsigned> relay_retry_initial_seconds{"relay.retry_initial_seconds"};
inline constexpr Setting<unsigned> relay_retry_max_seconds{"relay.retry_max_seconds"};
inline constexpr Setting<unsigned> relay_max_lifetime_seconds{"relay.max_lifetime_seconds"};
inline constexpr Setting<bool> smtp_sender_must_match_auth{"smtp.sender_must_match_auth"};
inline constexpr Setting<std::string> smtp_submission_bare_lf{"smtp.submission_bare_lf"};
inline constexpr Setting<std::string> spam_action{"spam.action"};
}  // namespace setting

// The table of runtime settings: name, default, description and rule of each, in the
// order `shicksctl config list` shows them.
const std::vector<RuntimeSetting>& runtime_settings();
const RuntimeSetting* find_runtime_setting(std::string_view name);

// nullopt when `value` is acceptable for `name` (by its row's rule); else a one-line reason.
std::optional<std::string> validate_runtime_setting(std::string_view name, std::string_view value);

// A relay host that is this machine: "localhost", 127.0.0.0/8, ::1 (also written
// "[::1]", or as ::ffff:127.x.y.z). A name is not resolved: only "localhost" counts.
bool is_loopback_host(std::string_view host);
// Why the relay client will not send its password to `host` over a connection
// without TLS (one line; the same text at `relay set`, `config set`, `relay test`
// and in a deferral).
std::string plaintext_auth_refusal(std::string_view host);
// The relay settings as a whole (design.md 8: the password never crosses the
// network unencrypted): with relay.tls none and a username, the host must be a
// loopback address or relay.allow_plaintext_auth true. nullopt when they can work
// (also when host is empty: no relaying); else the reason.
std::optional<std::string> check_relay_auth(std::string_view host, std::string_view tls, std::string_view username,
                                            std::string_view allow_plaintext_auth);

}  // namespace shicks::config
