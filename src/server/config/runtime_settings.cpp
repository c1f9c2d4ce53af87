#include "server/config/runtime_settings.hpp"

#include <fmt/core.h>

#include "common/netaddr.hpp"
#include "common/strings.hpp"

namespace shicks::config {

namespace {
// One row of the table; the key's type decides the kind of rule a row may have.
RuntimeSetting boolean(Setting<bool> key, std::string_view default_value, std::string_view description) {
  return {key.name, default_value, description, {SettingRule::Kind::boolean, {}, 0, 0}};
}
RuntimeSetting integer(Setting<unsigned> key, std::string_view default_value, std::uint64_t min, std::uint64_t max,
                       std::string_view description) {
  return {key.name, default_value, description, {SettingRule::Kind::integer, {}, min, max}};
}
RuntimeSetting choice(Setting<std::string> key, std::string_view default_value,
                      std::vector<std::string_view> choices, std::string_view description) {
  return {key.name, default_value, description, {SettingRule::Kind::choice, std::move(choices), 0, 0}};
}
RuntimeSetting host(Setting<std::string> key, std::string_view default_value, std::string_view description) {
  return {key.name, default_value, description, {SettingRule::Kind::host, {}, 0, 0}};
}
RuntimeSetting text(Setting<std::string> key, std::string_view default_value, std::string_view description) {
  return {key.name, default_value, description, {SettingRule::Kind::text, {}, 0, 0}};
}
RuntimeSetting secret(RuntimeSetting row) {
  row.secret = true;
  return row;
}
}  // namespace

const std::vector<RuntimeSetting>& runtime_settings() {
  using namespace setting;
  constexpr std::uint64_t kDay = 86400;
  static const std::vector<RuntimeSetting> list = {
      boolean(auth_allow_plaintext_on_loopback, "true",
              "accept USER/PASS and AUTH without TLS from loopback clients (never from others)"),
      integer(auth_max_failures, "5", 1, 1000, "failed logins from one IP before it is banned for auth.ban_seconds"),
      integer(auth_ban_seconds, "300", 1, kDay * 7, "how long an IP that failed too often may not log in"),
      integer(pop3_lease_seconds, "30", 3, kDay,
              "lifetime of a POP3 maildrop lock; renewed every third of it while its session lives, so a crashed "
              "daemon's locks are free after at most this long"),
      host(relay_host, "", "smarthost for non-local recipients; empty = no relaying"),
      integer(relay_port, "25", 1, 65535, "smarthost port"),
      choice(relay_tls, "starttls", {"none", "starttls", "tls"}, "none, starttls or tls (implicit)"),
      boolean(relay_tls_verify, "true", "verify the smarthost's certificate"),
      text(relay_username, "", "AUTH user at the smarthost; empty = no AUTH"),
      secret(text(relay_password, "", "AUTH password at the smarthost")),
      boolean(relay_allow_plaintext_auth, "false",
              "send the AUTH password without TLS (relay.tls none) to a relay that is not on loopback: only for a "
              "relay on a trusted network"),
      integer(relay_retry_initial_seconds, "300", 1, kDay,
              "first retry delay after a temporary failure (doubles each time)"),
      integer(relay_retry_max_seconds, "3600", 1, kDay * 7, "longest delay between two retries"),
      integer(relay_max_lifetime_seconds, "432000", 60, kDay * 60,
              "give up and bounce after this long (default 5 days)"),
      boolean(smtp_sender_must_match_auth, "true",
              "authenticated senders may only use their own addresses in MAIL FROM"),
      choice(smtp_submission_bare_lf, "normalise", {"normalise", "reject"},
             "a bare LF in DATA on submission and SMTPS after AUTH: normalise (stored as CRLF) or reject (550 5.5.2)"),
      choice(spam_action, "tag", {"tag", "reject", "off"}, "tag, reject or off"),
  };
  return list;
}

const RuntimeSetting* find_runtime_setting(std::string_view name) {
  for (const auto& s : runtime_settings())
    if (s.name == name) return &s;
  return nullptr;
}

namespace {
std::optional<std::string> one_of(std::string_view name, std::string_view v, const std::vector<std::string_view>& ok) {
  for (auto o : ok)
    if (v == o) return std::nullopt;
  std::string list;
  for (auto o : ok) list += (list.empty() ? "" : ", ") + std::string(o);
  return fmt::format("{} must be one of {}", name, list);
}

std::optional<std::string> number(std::string_view name, std::string_view v, std::uint64_t min, std::uint64_t max) {
  auto n = parse_u64(v);
  if (!n || *n < min || *n > max) return fmt::format("{} must be a whole number from {} to {}", name, min, max);
  return std::nullopt;
}

std::optional<std::string> host_name(std::string_view name, std::string_view v) {
  for (char c : v)
    if (!is_ascii_alpha(c) && !is_ascii_digit(c) && c != '.' && c != '-' && c != ':' && c != '[' && c != ']')
      return fmt::format("{} \"{}\" is not a host name or address", name, v);
  return std::nullopt;
}
}  // namespace

std::optional<std::string> validate_runtime_setting(std::string_view name, std::string_view v) {
  const RuntimeSetting* s = find_runtime_setting(name);
  if (!s) return fmt::format("unknown setting {}", name);
  for (unsigned char c : v)
    if (c < 0x20 || c == 0x7f) return fmt::format("{} must not contain control characters", name);
  const SettingRule& rule = s->rule;
  switch (rule.kind) {
    case SettingRule::Kind::boolean: return one_of(name, v, {"true", "false"});
    case SettingRule::Kind::choice: return one_of(name, v, rule.choices);
    case SettingRule::Kind::integer: return number(name, v, rule.min, rule.max);
    case SettingRule::Kind::host: return host_name(name, v);
    case SettingRule::Kind::text: break;
  }
  if (v.size() > 255) return fmt::format("{} is longer than 255 characters", name);
  return std::nullopt;
}

bool is_loopback_host(std::string_view host) {
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  if (!host.empty() && host.back() == '.') host.remove_suffix(1);  // "localhost." is absolute
  if (to_lower_ascii(host) == "localhost") return true;
  auto ip = IpAddress::parse(host);
  return ip && ip->is_loopback();
}

std::string plaintext_auth_refusal(std::string_view host) {
  return fmt::format("refusing to send the relay password without TLS to {}, which is not a loopback address: use "
                     "--tls starttls or tls, or --allow-plaintext-auth for a relay on a trusted network",
                     host);
}

std::optional<std::string> check_relay_auth(std::string_view host, std::string_view tls, std::string_view username,
                                            std::string_view allow_plaintext_auth) {
  if (host.empty() || username.empty() || tls != "none") return std::nullopt;
  if (allow_plaintext_auth == "true" || is_loopback_host(host)) return std::nullopt;
  return plaintext_auth_refusal(host);
}

}  // namespace shicks::config
