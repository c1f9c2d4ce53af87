#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "server/relay/reply_parser.hpp"

using namespace shicks::relay;

namespace {

// Every reply of `text`, fed whole and then one byte at a time: both must agree.
ParsedReplies both_ways(const std::string& text) {
  ParsedReplies whole = parse_replies(text);
  ParsedReplies bytes;
  ReplyParser p;
  for (char c : text) {
    std::string_view one(&c, 1);
    while (!one.empty()) {
      std::size_t used = 0;
      auto st = p.feed(one, used);
      one.remove_prefix(used);
      if (st == ReplyParser::State::error) {
        bytes.error = p.error();
        break;
      }
      if (st == ReplyParser::State::reply) bytes.replies.push_back(p.take());
    }
    if (!bytes.error.empty()) break;
  }
  bytes.incomplete = bytes.error.empty() && !p.idle();
  REQUIRE(whole.error == bytes.error);
  REQUIRE(whole.incomplete == bytes.incomplete);
  REQUIRE(whole.replies.size() == bytes.replies.size());
  for (std::size_t i = 0; i < whole.replies.size(); ++i) {
    CHECK(whole.replies[i].code == bytes.replies[i].code);
    CHECK(whole.replies[i].status == bytes.replies[i].status);
    CHECK(whole.replies[i].lines == bytes.replies[i].lines);
  }
  return whole;
}

}  // namespace

TEST_CASE("reply parser: single, multi-line and pipelined replies", "[relay]") {
  auto r = both_ways("220 relay.example ESMTP ready\r\n");
  REQUIRE(r.replies.size() == 1);
  CHECK(r.replies[0].code == 220);
  CHECK(r.replies[0].status.empty());
  CHECK(r.replies[0].lines == std::vector<std::string>{"relay.example ESMTP ready"});

  r = both_ways("250-relay.example\r\n250-PIPELINING\r\n250-SIZE 1000\r\n250 8BITMIME\r\n");
  REQUIRE(r.replies.size() == 1);
  CHECK(r.replies[0].lines.size() == 4);
  CHECK(r.replies[0].lines[3] == "8BITMIME");

  // Pipelined: MAIL, two RCPTs, DATA answered in one read.
  r = both_ways("250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n550 5.1.1 <x@far.example>: unknown\r\n354 End data with .\r\n");
  REQUIRE(r.replies.size() == 4);
  CHECK(r.replies[2].code == 550);
  CHECK(r.replies[2].status == "5.1.1");
  CHECK(r.replies[2].permanent());
  CHECK(r.replies[3].intermediate());
  CHECK_FALSE(r.incomplete);
}

TEST_CASE("reply parser: line ends, bare codes, leniency", "[relay]") {
  auto r = both_ways("250\r\n");  // a bare code is a complete last line
  REQUIRE(r.replies.size() == 1);
  CHECK(r.replies[0].lines == std::vector<std::string>{""});
  r = both_ways("250 ok\n221 bye\n");  // bare LF accepted
  REQUIRE(r.replies.size() == 2);
  CHECK(r.replies[1].code == 221);
  r = both_ways("250-first\r\n250 last");  // no line end yet: incomplete, not an error
  CHECK(r.replies.empty());
  CHECK(r.incomplete);
  r = both_ways("421 4.3.2 shutting down\r\n");
  CHECK(r.replies[0].transient());
  CHECK(r.replies[0].status == "4.3.2");
}

TEST_CASE("reply parser: enhanced status codes", "[relay]") {
  CHECK(both_ways("250 2.0.0 Ok\r\n").replies[0].status == "2.0.0");
  CHECK(both_ways("550 5.7.1\r\n").replies[0].status == "5.7.1");
  CHECK(both_ways("550 5.123.456 x\r\n").replies[0].status == "5.123.456");
  CHECK(both_ways("550 4.1.1 wrong class\r\n").replies[0].status.empty());
  CHECK(both_ways("550 5.1234.1 too long\r\n").replies[0].status.empty());
  CHECK(both_ways("550 5.1.1x glued\r\n").replies[0].status.empty());
  CHECK(both_ways("550 5.1 short\r\n").replies[0].status.empty());
  CHECK(both_ways("354 3.0.0 no such class\r\n").replies[0].status.empty());
  // Only the first line's code counts.
  CHECK(both_ways("550-text\r\n550 5.1.1 later\r\n").replies[0].status.empty());
}

TEST_CASE("reply parser: malformed input is a fatal error", "[relay]") {
  CHECK_FALSE(both_ways("hello\r\n").error.empty());
  CHECK_FALSE(both_ways("25\r\n").error.empty());
  CHECK_FALSE(both_ways("250x ok\r\n").error.empty());
  CHECK_FALSE(both_ways("650 out of range\r\n").error.empty());
  CHECK_FALSE(both_ways("150 out of range\r\n").error.empty());
  auto r = both_ways("250-a\r\n251 b\r\n");
  CHECK(r.error.find("changes") != std::string::npos);
  // An error is sticky: the parser does not resynchronise on garbage.
  ReplyParser p;
  std::size_t used = 0;
  CHECK(p.feed("xyz\r\n250 ok\r\n", used) == ReplyParser::State::error);
  CHECK(p.feed("250 ok\r\n", used) == ReplyParser::State::error);
  // Control bytes in the error message are shown as '?'.
  CHECK(both_ways("\x1b[31m\r\n").error.find('\x1b') == std::string::npos);
}

TEST_CASE("reply parser: limits", "[relay]") {
  ReplyParser::Limits lim;
  lim.max_line = 10;
  lim.max_lines = 3;
  CHECK(parse_replies("250 012345\r\n", lim).error.empty());
  CHECK_FALSE(parse_replies("250 0123456\r\n", lim).error.empty());
  CHECK(parse_replies("250-a\r\n250-b\r\n250 c\r\n", lim).error.empty());
  CHECK_FALSE(parse_replies("250-a\r\n250-b\r\n250-c\r\n250 d\r\n", lim).error.empty());
}

TEST_CASE("reply summary: printable, joined, bounded", "[relay]") {
  ServerReply r{550, "5.1.1", {"5.1.1 unknown\x01user", "second"}};
  CHECK(r.summary() == "550 5.1.1 unknown?user / second");
  CHECK(r.summary(10) == "550 5.1...");
  CHECK(ServerReply{250, "", {""}}.summary() == "250 ");
}
