#include <catch2/catch.hpp>

#include <set>

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
