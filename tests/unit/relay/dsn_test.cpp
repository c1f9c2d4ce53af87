#include <catch2/catch.hpp>

#include <string>

#include "server/relay/dsn.hpp"

using namespace shicks::relay;

namespace {
DsnInput sample() {
  DsnInput in;
  in.reporting_mta = "mx.example.org";
  in.remote_mta = "smart.example.net";
  in.original_sender = "alice@example.org";
  in.arrival = 1700000000;
  in.now = 1700000600;
  in.original_headers = "Received: from x\r\nFrom: Alice <alice@example.org>\r\nSubject: hello\r\n";
  in.recipients.push_back({"bob@far.example", "5.1.1", "550 5.1.1 <bob@far.example>: unknown user", true});
  in.unique = "0123abcd";
  return in;
}
std::size_t count(const std::string& s, const std::string& what) {
  std::size_t n = 0;
  for (auto p = s.find(what); p != std::string::npos; p = s.find(what, p + 1)) ++n;
  return n;
}
}  // namespace

TEST_CASE("DSN: RFC 3464 multipart/report with the three parts", "[relay]") {
  Dsn d = compose_dsn(sample());
  const std::string& m = d.message;
  CHECK(m.rfind("From: Mail Delivery System <MAILER-DAEMON@mx.example.org>\r\n", 0) == 0);
  CHECK(m.find("\r\nTo: <alice@example.org>\r\n") != std::string::npos);
  CHECK(m.find("\r\nAuto-Submitted: auto-replied\r\n") != std::string::npos);
  CHECK(m.find("Content-Type: multipart/report; report-type=delivery-status;") != std::string::npos);
  CHECK(m.find("boundary=\"=_shicks_dsn_0123abcd\"") != std::string::npos);
  CHECK(count(m, "--=_shicks_dsn_0123abcd\r\n") == 3);
  CHECK(count(m, "--=_shicks_dsn_0123abcd--\r\n") == 1);
  CHECK(m.find("Content-Type: message/delivery-status\r\n") != std::string::npos);
  CHECK(m.find("Reporting-MTA: dns; mx.example.org\r\n") != std::string::npos);
  CHECK(m.find("Final-Recipient: rfc822; bob@far.example\r\nAction: failed\r\nStatus: 5.1.1\r\n"
               "Remote-MTA: dns; smart.example.net\r\n"
               "Diagnostic-Code: smtp; 550 5.1.1 <bob@far.example>: unknown user\r\n") != std::string::npos);
  CHECK(m.find("Content-Type: text/rfc822-headers\r\n") != std::string::npos);
  CHECK(m.find("Subject: hello\r\n") != std::string::npos);
  CHECK(d.subject == "Undelivered Mail Returned to Sender");
  // Only CRLF line ends.
  for (std::size_t i = 0; i < m.size(); ++i)
    if (m[i] == '\n') REQUIRE((i > 0 && m[i - 1] == '\r'));
  // The header section ends with a blank line before the body.
  CHECK(m.find("\r\n\r\nThis is a MIME-encapsulated message.") != std::string::npos);
}

TEST_CASE("DSN: local diagnostics, expiry, hostile text", "[relay]") {
  DsnInput in = sample();
  in.expired = true;
  in.recipients = {{"c@far.example", "4.4.1", "connect to relay: Connection\r\nrefused", false},
                   {"d@far.example", "4.2.2", "452 4.2.2 mailbox full", true}};
  Dsn d = compose_dsn(in);
  CHECK(d.message.find("Diagnostic-Code: X-Shicks; connect to relay: Connection  refused\r\n") != std::string::npos);
  CHECK(d.message.find("Status: 4.4.1\r\n") != std::string::npos);
  CHECK(d.message.find("given up") != std::string::npos);
  CHECK(d.message.find("Final-Recipient: rfc822; d@far.example") != std::string::npos);
  CHECK(d.message.find("Remote-MTA") != std::string::npos);
}

TEST_CASE("DSN: header section of the original message", "[relay]") {
  CHECK(header_section("A: 1\r\nB: 2\r\n\r\nbody\r\n") == "A: 1\r\nB: 2\r\n");
  CHECK(header_section("A: 1\r\nB: 2\r\n") == "A: 1\r\nB: 2\r\n");  // no body
  CHECK(header_section("A: 1\r\nB: 2") == "A: 1\r\nB: 2\r\n");
  CHECK(header_section("A: 1\r\nB: 2222\r\n\r\n", 12) == "A: 1\r\n");  // cut at a line end
  CHECK(header_section("").empty());
}
