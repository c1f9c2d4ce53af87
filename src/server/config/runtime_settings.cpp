#include "server/config/runtime_settings.hpp"

#include <fmt/core.h>

#include "common/netaddr.hpp"
#include "common/strings.hpp"

namespace shicks::config {

const std::vector<RuntimeSetting>& runtime_settings() {
  static const std::vector<RuntimeSetting> list = {
      {"auth.allow_plaintext_on_loopback", "true",
       "accept USER/PASS and AUTH without TLS from loopback clients (never from others)"},
      {"auth.max_failures", "5", "failed logins from one IP before it is banned for auth.ban_seconds"},
      {"auth.ban_seconds", "300", "how long an IP that failed too often may not log in"},
      {"pop3.lease_seconds", "30",
       "lifetime of a POP3 maildrop lock; renewed every third of it while its session lives, so a crashed "
       "daemon's locks are free after at most this long"},
      {"relay.host", "", "smarthost for non-local recipients; empty = no relaying"},
      {"relay.port", "25", "smarthost port"},
      {"relay.tls", "starttls", "none, starttls or tls (implicit)"},
      {"relay.tls_verify", "true", "verify the smarthost's certificate"},
      {"relay.username", "", "AUTH user at the smarthost; empty = no AUTH"},
      {"relay.password", "", "AUTH password at the smarthost", true},
      {"relay.allow_plaintext_auth", "false",
       "send the AUTH password without TLS (relay.tls none) to a relay that is not on loopback: only for a relay "
       "on a trusted network"},
      {"relay.retry_initial_seconds", "300", "first retry delay after a temporary failure (doubles each time)"},
      {"relay.retry_max_seconds", "3600", "longest delay between two retries"},
      {"relay.max_lifetime_seconds", "432000", "give up and bounce after this long (default 5 days)"},
      {"smtp.sender_must_match_auth", "true", "authenticated senders may only use their own addresses in MAIL FROM"},
      {"smtp.submission_bare_lf", "normalise",
       "a bare LF in DATA on submission and SMTPS after AUTH: normalise (stored as CRLF) or reject (550 5.5.2)"},
      {"spam.action", "tag", "tag, reject or off"},
  };
  return list;
}

const RuntimeSetting* find_runtime_setting(std::string_view name) {
  for (const auto& s : runtime_settings())
    if (s.name == name) return &s;
  return nullptr;
}

namespace {
std::optional<std::string> one_of(std::string_view name, std::string_view v, std::initializer_list<std::string_view> ok) {
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
}  // namespace

std::optional<std::string> validate_runtime_setting(std::string_view name, std::string_view v) {
  const RuntimeSetting* s = find_runtime_setting(name);
  if (!s) return fmt::format("unknown setting {}", name);
  for (unsigned char c : v)
    if (c < 0x20 || c == 0x7f) return fmt::format("{} must not contain control characters", name);
  if (name == "auth.allow_plaintext_on_loopback" || name == "relay.tls_verify" ||
      name == "relay.allow_plaintext_auth" || name == "smtp.sender_must_match_auth")
    return one_of(name, v, {"true", "false"});
  if (name == "auth.max_failures") return number(name, v, 1, 1000);
  if (name == "auth.ban_seconds") return number(name, v, 1, 86400 * 7);
  if (name == "pop3.lease_seconds") return number(name, v, 3, 86400);
  if (name == "relay.port") return number(name, v, 1, 65535);
  if (name == "relay.tls") return one_of(name, v, {"none", "starttls", "tls"});
  if (name == "relay.retry_initial_seconds") return number(name, v, 1, 86400);
  if (name == "relay.retry_max_seconds") return number(name, v, 1, 86400 * 7);
  if (name == "relay.max_lifetime_seconds") return number(name, v, 60, 86400 * 60);
  if (name == "spam.action") return one_of(name, v, {"tag", "reject", "off"});
  if (name == "smtp.submission_bare_lf") return one_of(name, v, {"normalise", "reject"});
  if (name == "relay.host") {
    for (char c : v)
      if (!is_ascii_alpha(c) && !is_ascii_digit(c) && c != '.' && c != '-' && c != ':' && c != '[' && c != ']')
        return fmt::format("relay.host \"{}\" is not a host name or address", v);
    return std::nullopt;
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
