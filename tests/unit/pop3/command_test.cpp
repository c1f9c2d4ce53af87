// The POP3 command parser: keywords, arguments, line-level junk.
#include <catch2/catch.hpp>

#include <string>

#include "server/pop3/command.hpp"

using namespace shicks::pop3;

TEST_CASE("pop3: keywords are case-insensitive", "[pop3][command]") {
  struct Row {
    const char* line;
    Verb verb;
  };
  for (const Row& r : {Row{"USER a", Verb::user}, Row{"pass x", Verb::pass}, Row{"ApOp a b", Verb::apop},
                       Row{"AUTH", Verb::auth}, Row{"capa", Verb::capa}, Row{"STLS", Verb::stls},
                       Row{"QUIT", Verb::quit}, Row{"stat", Verb::stat}, Row{"LIST", Verb::list},
                       Row{"retr 1", Verb::retr}, Row{"DELE 1", Verb::dele}, Row{"NOOP", Verb::noop},
                       Row{"RSET", Verb::rset}, Row{"TOP 1 2", Verb::top}, Row{"uidl", Verb::uidl},
                       Row{"LAST", Verb::unknown}, Row{"STATS", Verb::unknown}, Row{"STA", Verb::unknown},
                       Row{" STAT", Verb::unknown}, Row{"\xc3\x9cSER a", Verb::unknown}}) {
    INFO(r.line);
    auto c = parse_command(r.line);
    REQUIRE(c);
    CHECK(c->verb == r.verb);
  }
}

TEST_CASE("pop3: arguments and the verbatim rest", "[pop3][command]") {
  auto c = parse_command("TOP 1 10");
  REQUIRE(c);
  CHECK(c->args == std::vector<std::string>{"1", "10"});
  c = parse_command("PASS  two  spaces ");
  REQUIRE(c);
  CHECK(c->rest == " two  spaces ");
  CHECK(c->args == std::vector<std::string>{"two", "spaces"});
  c = parse_command("LIST ");
  REQUIRE(c);
  CHECK(c->args.empty());
  CHECK(c->rest.empty());
  c = parse_command("STAT");
  REQUIRE(c);
  CHECK(c->args.empty());
  c = parse_command("PASS p\xc3\xa4ss");  // 8-bit passwords pass through
  REQUIRE(c);
  CHECK(c->rest == "p\xc3\xa4ss");
}

TEST_CASE("pop3: empty lines and control bytes are refused", "[pop3][command]") {
  CHECK(parse_command("").error() == CommandError::empty);
  for (std::string bad : {std::string("STAT\0", 5), std::string("LIST\t1"), std::string("NOOP\r"),
                          std::string("USER a\x7f"), std::string("\x01")}) {
    auto c = parse_command(bad);
    REQUIRE(!c);
    CHECK(c.error() == CommandError::bad_character);
  }
}
