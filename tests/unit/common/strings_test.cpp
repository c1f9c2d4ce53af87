#include <catch2/catch.hpp>

#include "common/log.hpp"
#include "common/strings.hpp"

using namespace shicks;

TEST_CASE("parse_u64 takes whole decimal numbers only") {
  CHECK(parse_u64("0") == 0u);
  CHECK(parse_u64("18446744073709551615") == UINT64_MAX);
  CHECK_FALSE(parse_u64("18446744073709551616"));
  CHECK_FALSE(parse_u64(""));
  CHECK_FALSE(parse_u64("+1"));
  CHECK_FALSE(parse_u64("-1"));
  CHECK_FALSE(parse_u64(" 1"));
  CHECK_FALSE(parse_u64("1x"));
}

TEST_CASE("ASCII case helpers ignore the locale and non-ASCII bytes") {
  CHECK(iequals_ascii("MAIL FROM", "mail from"));
  CHECK_FALSE(iequals_ascii("MAIL", "MAIL "));
  CHECK(istarts_with_ascii("EHLO example", "ehlo"));
  CHECK_FALSE(istarts_with_ascii("EH", "ehlo"));
  CHECK(to_lower_ascii("\xC3\x84" "Bc") == "\xC3\x84" "bc");
}

TEST_CASE("split and trim") {
  auto parts = split("a,,b,", ',');
  REQUIRE(parts.size() == 4);
  CHECK(parts[0] == "a");
  CHECK(parts[1].empty());
  CHECK(parts[3].empty());
  CHECK(trim(" \t x y \r\n") == "x y");
  CHECK(trim("").empty());
}

TEST_CASE("log values are quoted so that a line stays one parseable line") {
  CHECK(log::quote("plain") == "plain");
  CHECK(log::quote("") == "\"\"");
  CHECK(log::quote("two words") == "\"two words\"");
  CHECK(log::quote("a=b") == "\"a=b\"");
  CHECK(log::quote("say \"hi\"") == "\"say \\\"hi\\\"\"");
  CHECK(log::quote("line\r\nbreak") == "\"line\\r\\nbreak\"");
  CHECK(log::quote(std::string("nul\0x", 5)) == "\"nul\\x00x\"");
}

TEST_CASE("human_bytes") {
  CHECK(human_bytes(0) == "0 B");
  CHECK(human_bytes(1023) == "1023 B");
  CHECK(human_bytes(1536) == "1.5 KiB");
  CHECK(human_bytes(26214400) == "25.0 MiB");
}
