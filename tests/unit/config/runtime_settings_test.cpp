#include <catch2/catch.hpp>

#include <fstream>
#include <map>
#include <set>
#include <string>

#include "server/config/runtime_settings.hpp"

using namespace shicks::config;

TEST_CASE("every runtime setting's default passes its own validation, names are unique") {
  std::set<std::string_view> names;
  for (const auto& s : runtime_settings()) {
    INFO(s.name);
    CHECK(names.insert(s.name).second);
    CHECK_FALSE(validate_runtime_setting(s.name, s.default_value).has_value());
    CHECK_FALSE(s.description.empty());
  }
  CHECK(find_runtime_setting("relay.password")->secret);
  CHECK_FALSE(find_runtime_setting("relay.host")->secret);
}

TEST_CASE("runtime setting values are validated") {
  CHECK(validate_runtime_setting("spam.action", "tag") == std::nullopt);
  CHECK(validate_runtime_setting("spam.action", "reject") == std::nullopt);
  CHECK(validate_runtime_setting("spam.action", "delete").value() == "spam.action must be one of tag, reject, off");
  CHECK(validate_runtime_setting("relay.port", "587") == std::nullopt);
  CHECK(validate_runtime_setting("relay.port", "0").has_value());
  CHECK(validate_runtime_setting("relay.port", "65536").has_value());
  CHECK(validate_runtime_setting("relay.port", "25x").has_value());
  CHECK(validate_runtime_setting("relay.tls", "starttls") == std::nullopt);
  CHECK(validate_runtime_setting("relay.tls", "ssl").has_value());
  CHECK(validate_runtime_setting("relay.host", "smtp.isp.example") == std::nullopt);
  CHECK(validate_runtime_setting("relay.host", "bad host").has_value());
  CHECK(validate_runtime_setting("relay.username", "a\nb").has_value());
  CHECK(validate_runtime_setting("no.such", "1").value() == "unknown setting no.such");
}

TEST_CASE("smtp.submission_bare_lf is normalise or reject") {
  CHECK(find_runtime_setting("smtp.submission_bare_lf")->default_value == "normalise");
  CHECK(validate_runtime_setting("smtp.submission_bare_lf", "normalise") == std::nullopt);
  CHECK(validate_runtime_setting("smtp.submission_bare_lf", "reject") == std::nullopt);
  CHECK(validate_runtime_setting("smtp.submission_bare_lf", "yes").value() ==
        "smtp.submission_bare_lf must be one of normalise, reject");
}

TEST_CASE("loopback relay hosts") {
  for (const char* h : {"localhost", "LocalHost", "localhost.", "127.0.0.1", "127.1.2.3", "::1", "[::1]",
                        "::ffff:127.0.0.1"})
    CHECK(is_loopback_host(h));
  for (const char* h : {"", "smtp.isp.example", "localhost.example", "mylocalhost", "10.0.0.1", "128.0.0.1",
                        "[::2]", "::", "0.0.0.0", "[127.0.0.1"})
    CHECK_FALSE(is_loopback_host(h));
}

TEST_CASE("relay settings that would send the password without TLS are refused") {
  const std::string why = plaintext_auth_refusal("smtp.isp.example");
  CHECK(why.find("refusing to send the relay password without TLS to smtp.isp.example") == 0);
  CHECK(why.find("--allow-plaintext-auth") != std::string::npos);
  CHECK(check_relay_auth("smtp.isp.example", "none", "u", "false") == why);
  // TLS, no username, no host, a loopback host, or the admin's explicit permission.
  CHECK_FALSE(check_relay_auth("smtp.isp.example", "starttls", "u", "false"));
  CHECK_FALSE(check_relay_auth("smtp.isp.example", "tls", "u", "false"));
  CHECK_FALSE(check_relay_auth("smtp.isp.example", "none", "", "false"));
  CHECK_FALSE(check_relay_auth("", "none", "u", "false"));
  CHECK_FALSE(check_relay_auth("127.0.0.1", "none", "u", "false"));
  CHECK_FALSE(check_relay_auth("[::1]", "none", "u", "false"));
  CHECK_FALSE(check_relay_auth("localhost", "none", "u", "false"));
  CHECK_FALSE(check_relay_auth("relay.lan", "none", "u", "true"));
  CHECK(validate_runtime_setting("relay.allow_plaintext_auth", "true") == std::nullopt);
  CHECK(validate_runtime_setting("relay.allow_plaintext_auth", "yes").has_value());
}

namespace {
// What a row's rule takes, as man/shicksctl.8 gives it after the setting's name.
std::string described(const SettingRule& r) {
  switch (r.kind) {
    case SettingRule::Kind::boolean: return "true or false";
    case SettingRule::Kind::choice: {
      std::string out;
      for (std::size_t i = 0; i < r.choices.size(); ++i)
        out += (i == 0 ? "" : i + 1 == r.choices.size() ? " or " : ", ") + std::string(r.choices[i]);
      return out;
    }
    case SettingRule::Kind::integer: return std::to_string(r.min) + " to " + std::to_string(r.max);
    case SettingRule::Kind::host: return "host name or address";
    case SettingRule::Kind::text: return "text";
  }
  return "";
}

template <class T>
SettingRule::Kind kind_of(Setting<T> key) {
  const RuntimeSetting* row = find_runtime_setting(key.name);
  REQUIRE(row);
  return row->rule.kind;
}
}  // namespace

TEST_CASE("every setting key names a row whose rule fits the type it is read as, and every row has a key") {
  using K = SettingRule::Kind;
  using namespace setting;
  std::set<std::string_view> keyed;
  for (auto k : {auth_allow_plaintext_on_loopback, relay_tls_verify, relay_allow_plaintext_auth,
                 smtp_sender_must_match_auth}) {
    INFO(k.name);
    CHECK(kind_of(k) == K::boolean);
    keyed.insert(k.name);
  }
  for (auto k : {auth_max_failures, auth_ban_seconds, pop3_lease_seconds, relay_port, relay_retry_initial_seconds,
                 relay_retry_max_seconds, relay_max_lifetime_seconds}) {
    INFO(k.name);
    CHECK(kind_of(k) == K::integer);
    keyed.insert(k.name);
  }
  for (auto k : {relay_host, relay_tls, relay_username, relay_password, smtp_submission_bare_lf, spam_action}) {
    INFO(k.name);
    auto kind = kind_of(k);
    CHECK((kind == K::choice || kind == K::host || kind == K::text));
    keyed.insert(k.name);
  }
  CHECK(keyed.size() == runtime_settings().size());
}

TEST_CASE("every row accepts its default and rejects a value outside its rule, with the reason of today") {
  for (const auto& s : runtime_settings()) {
    const std::string name(s.name);
    INFO(name);
    CHECK(validate_runtime_setting(s.name, s.default_value) == std::nullopt);
    CHECK(validate_runtime_setting(s.name, "a\tb") == name + " must not contain control characters");
    const SettingRule& r = s.rule;
    switch (r.kind) {
      case SettingRule::Kind::boolean:
        CHECK(validate_runtime_setting(s.name, "true") == std::nullopt);
        CHECK(validate_runtime_setting(s.name, "false") == std::nullopt);
        CHECK(validate_runtime_setting(s.name, "yes") == name + " must be one of true, false");
        CHECK(validate_runtime_setting(s.name, "") == name + " must be one of true, false");
        break;
      case SettingRule::Kind::choice: {
        std::string list;
        for (auto c : r.choices) {
          CHECK(validate_runtime_setting(s.name, c) == std::nullopt);
          list += (list.empty() ? "" : ", ") + std::string(c);
        }
        CHECK(validate_runtime_setting(s.name, "none-of-them") == name + " must be one of " + list);
        break;
      }
      case SettingRule::Kind::integer: {
        const std::string why =
            name + " must be a whole number from " + std::to_string(r.min) + " to " + std::to_string(r.max);
        CHECK(validate_runtime_setting(s.name, std::to_string(r.min)) == std::nullopt);
        CHECK(validate_runtime_setting(s.name, std::to_string(r.max)) == std::nullopt);
        CHECK(validate_runtime_setting(s.name, std::to_string(r.max + 1)) == why);
        if (r.min > 0) CHECK(validate_runtime_setting(s.name, std::to_string(r.min - 1)) == why);
        CHECK(validate_runtime_setting(s.name, "-1") == why);
        CHECK(validate_runtime_setting(s.name, "5x") == why);
        CHECK(validate_runtime_setting(s.name, "") == why);
        break;
      }
      case SettingRule::Kind::host:
        CHECK(validate_runtime_setting(s.name, "") == std::nullopt);
        CHECK(validate_runtime_setting(s.name, "[::1]") == std::nullopt);
        CHECK(validate_runtime_setting(s.name, "a b") == name + " \"a b\" is not a host name or address");
        break;
      case SettingRule::Kind::text:
        CHECK(validate_runtime_setting(s.name, std::string(255, 'x')) == std::nullopt);
        CHECK(validate_runtime_setting(s.name, std::string(256, 'x')) == name + " is longer than 255 characters");
        break;
    }
  }
}

TEST_CASE("man/shicksctl.8 lists every runtime setting with the values its rule takes and its default") {
  std::ifstream in(SHICKS_SOURCE_DIR "/man/shicksctl.8");
  REQUIRE(in);
  // ".It Li spam.action Pq tag, reject or off", then the text, then "Default:" and
  // ".Li tag ." (or "Default: empty.").
  std::map<std::string, std::pair<std::string, std::string>> documented;  // name -> (values, body)
  std::string line, current;
  while (std::getline(in, line)) {
    if (line.rfind(".It ", 0) == 0 || line.rfind(".El", 0) == 0 || line.rfind(".S", 0) == 0) current.clear();
    if (line.rfind(".It Li ", 0) == 0) {
      auto pq = line.find(" Pq ");
      if (pq == std::string::npos) continue;
      current = line.substr(7, pq - 7);
      documented[current].first = line.substr(pq + 4);
      continue;
    }
    if (!current.empty()) documented[current].second += line + "\n";
  }
  for (const auto& s : runtime_settings()) {
    const std::string name(s.name);
    INFO(name);
    REQUIRE(documented.count(name) == 1);
    CHECK(documented[name].first == described(s.rule));
    const std::string dflt = s.default_value.empty() ? "Default: empty.\n"
                                                     : "Default:\n.Li " + std::string(s.default_value) + " .\n";
    CHECK(documented[name].second.find(dflt) != std::string::npos);
  }
}
