#include <catch2/catch.hpp>

#include "server/admin/rules.hpp"

using namespace shicks::admin;

TEST_CASE("admin rules: user names") {
  for (const char* ok : {"alice", "a", "Alice.Smith", "bob_2", "x-y", "9lives", "jürgen", "alicé"}) {
    INFO(ok);
    CHECK_FALSE(check_user_name(ok).has_value());
  }
  CHECK(check_user_name("").value() == "a user name must not be empty");
  CHECK(check_user_name(std::string(65, 'a')).value() == "user name is longer than 64 octets");
  CHECK_FALSE(check_user_name(std::string(64, 'a')).has_value());
  CHECK(check_user_name(".alice").value() == "user name \".alice\" must begin with a letter or a digit");
  CHECK(check_user_name("al ice").value().find("may only contain") != std::string::npos);
  CHECK(check_user_name("alice@example.org").value().find("(not '@')") != std::string::npos);
  CHECK(check_user_name("al\tice").value() == "user name must not contain control characters");
  CHECK(check_user_name("\xff\xfe").value() == "user name is not valid UTF-8");
}

TEST_CASE("admin rules: passwords") {
  CHECK_FALSE(check_password("x").has_value());
  CHECK_FALSE(check_password(" spaces and ünïcode ").has_value());
  CHECK_FALSE(check_password(std::string(255, 'p')).has_value());
  CHECK(check_password(std::string(256, 'p')).value() == "the password is longer than 255 octets");
  CHECK(check_password("").value() == "the password must not be empty");
  CHECK(check_password(std::string("a\0b", 3)).has_value());
  CHECK(check_password("a\nb").has_value());
  CHECK(check_password("a\rb").has_value());
}

TEST_CASE("admin rules: addresses are parsed like SMTP paths and stored lowercased") {
  struct Case {
    const char* in;
    const char* stored;
    const char* domain;
    bool catch_all;
  };
  const Case cases[] = {
      {"alice@example.org", "alice@example.org", "example.org", false},
      {"Alice@Example.ORG", "alice@example.org", "example.org", false},
      {"@Example.net", "@example.net", "example.net", true},
      {"jürgen@bücher.example", "jürgen@bücher.example", "bücher.example", false},
      {"\"a b\"@example.org", "\"a b\"@example.org", "example.org", false},
      {"x@[192.0.2.1]", "x@[192.0.2.1]", "[192.0.2.1]", false},
  };
  for (const auto& c : cases) {
    INFO(c.in);
    auto a = normalize_address(c.in);
    REQUIRE(a);
    CHECK(a->address == c.stored);
    CHECK(a->domain == c.domain);
    CHECK(a->catch_all == c.catch_all);
  }
  for (const char* bad : {"", "alice", "@", "a@", "a b@example.org", "a@b@c", "@@example.org", "<a@example.org>",
                          "a@example..org", "a@exa mple.org", "a\r\n@example.org"}) {
    INFO(bad);
    auto a = normalize_address(bad);
    REQUIRE_FALSE(a);
    CHECK_FALSE(a.error().empty());
  }
  CHECK(normalize_address(std::string(65, 'a') + "@example.org").error().find("too long") != std::string::npos);
  CHECK(normalize_address("\xc3(@example.org").error() == "an address must be valid UTF-8");
}

TEST_CASE("admin rules: spam keywords") {
  CHECK(*normalize_keyword("  viagra \t") == "viagra");
  CHECK(*normalize_keyword("free money") == "free money");
  CHECK(normalize_keyword("   ").error() == "a spam keyword must not be empty");
  CHECK(normalize_keyword("a\x01").error() == "a spam keyword must not contain control characters");
  CHECK(normalize_keyword("\xff").error() == "a spam keyword must be valid UTF-8");
  std::string long_ascii(256, 'k');
  CHECK(normalize_keyword(long_ascii).error() == "spam keyword is longer than 255 characters");
  // What the matcher cannot use is refused, not stored to never match.
  std::string long_utf8;
  for (int i = 0; i < 255; ++i) long_utf8 += "é";  // 255 characters, 510 octets
  CHECK(normalize_keyword(long_utf8).error() == "spam keyword cannot be used: keyword longer than 255 bytes");
  CHECK(normalize_keyword(long_utf8.substr(0, 254)));  // 127 characters, 254 octets
  CHECK(normalize_keyword("*").error() == "spam keyword cannot be used: a keyword of only \"*\" would match everything");
  CHECK(normalize_keyword("v*agra"));
}

TEST_CASE("admin rules: UTF-8 validation") {
  CHECK(valid_utf8(""));
  CHECK(valid_utf8("plain"));
  CHECK(valid_utf8("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"));
  CHECK_FALSE(valid_utf8("\xc0\xaf"));          // overlong
  CHECK_FALSE(valid_utf8("\xe0\x80\xaf"));      // overlong
  CHECK_FALSE(valid_utf8("\xed\xa0\x80"));      // surrogate
  CHECK_FALSE(valid_utf8("\xf4\x90\x80\x80"));  // beyond U+10FFFF
  CHECK_FALSE(valid_utf8("\xc3"));              // cut short
  CHECK_FALSE(valid_utf8("\xe2\x82"));
  CHECK(utf8_length("h\xc3\xa9llo") == 5);
}
