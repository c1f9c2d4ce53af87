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
