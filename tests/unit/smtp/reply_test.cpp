#include <catch2/catch.hpp>

#include "server/smtp/reply.hpp"

using shicks::smtp::Reply;

TEST_CASE("Reply::render puts the code and status on every line", "[smtp][reply]") {
  struct Case {
    Reply reply;
    const char* rendered;
  };
  Reply ehlo;
  ehlo.code = 250;
  ehlo.lines = {"mx.example.org", "PIPELINING", "SIZE 26214400", "8BITMIME"};
  Reply multi_status;
  multi_status.code = 550;
  multi_status.status = "5.7.1";
  multi_status.lines = {"first", "second"};
  Reply bare;
  bare.code = 354;
  Reply status_only;
  status_only.code = 250;
  status_only.status = "2.0.0";
  Reply empty_middle;
  empty_middle.code = 214;
  empty_middle.lines = {"a", "", "b"};

  const Case cases[] = {
      {Reply(250, "2.1.0", "Ok"), "250 2.1.0 Ok\r\n"},
      {Reply(220, "", "mx.example.org ESMTP"), "220 mx.example.org ESMTP\r\n"},
      {Reply(221, "2.0.0", ""), "221 2.0.0\r\n"},
      {ehlo, "250-mx.example.org\r\n250-PIPELINING\r\n250-SIZE 26214400\r\n250 8BITMIME\r\n"},
      {multi_status, "550-5.7.1 first\r\n550 5.7.1 second\r\n"},
      {bare, "354\r\n"},
      {status_only, "250 2.0.0\r\n"},
      {Reply(334, "", ""), "334 \r\n"},  // the empty SASL challenge (RFC 4954 4)
      {empty_middle, "214-a\r\n214-\r\n214 b\r\n"},
      // Client text echoed in a reply can never end the line or forge another one.
      {Reply(501, "5.5.4", "bad\r\n250 ok\x7f"), "501 5.5.4 bad??250 ok?\r\n"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.rendered);
    CHECK(c.reply.render() == c.rendered);
  }
}

TEST_CASE("Reply classifies its code", "[smtp][reply]") {
  CHECK(Reply(250, "2.0.0", "").positive());
  CHECK(Reply(354, "", "").positive());
  CHECK(Reply(451, "4.3.0", "").transient());
  CHECK_FALSE(Reply(451, "4.3.0", "").permanent());
  CHECK(Reply(550, "5.1.1", "").permanent());
  CHECK_FALSE(Reply(550, "5.1.1", "").positive());
}
