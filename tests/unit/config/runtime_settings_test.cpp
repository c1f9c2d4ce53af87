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
