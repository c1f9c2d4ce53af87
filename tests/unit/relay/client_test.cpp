// The relay client's state machine against scripted servers: what it sends, when it
// wants TLS or the body, and the per-recipient results.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "common/base64.hpp"
#include "server/relay/client.hpp"

using namespace shicks::relay;

namespace {

struct Run {
  std::vector<std::string> log;  // "C: ..." sent, "S: 250" read, TLS, BODY, CLOSED, FAILED: ...
  std::vector<std::vector<RecipientResult>> results;  // one per message
  std::string data;              // every byte the client wrote
};

ServerReply reply(const std::string& text) {
  auto p = parse_replies(text + "\r\n");
  REQUIRE(p.error.empty());
  REQUIRE(p.replies.size() == 1);
  return p.replies[0];
}

const char* kEhlo = "250-relay.example\r\n250-SIZE 10000\r\n250-8BITMIME\r\n250-ENHANCEDSTATUSCODES\r\n250 HELP";
const char* kEhloPipe = "250-relay.example\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 SIZE";

Run play(ClientOptions o, const std::vector<std::string>& server, const std::vector<Envelope>& messages) {
  Client c(std::move(o));
  Run run;
  std::size_t next_reply = 0, next_message = 0;
  Step s = c.start();
  for (int guard = 0; guard < 1000; ++guard) {
    switch (s.kind) {
      case Step::send: {
        run.data += s.data;
        std::size_t start = 0;
        for (std::size_t nl; (nl = s.label.find('\n', start)) != std::string::npos; start = nl + 1)
          run.log.push_back("C: " + s.label.substr(start, nl - start));
        run.log.push_back("C: " + s.label.substr(start));
        [[fallthrough]];
      }
      case Step::read:
      case Step::send_body:
        if (s.kind == Step::send_body) run.log.push_back("BODY");
        if (next_reply >= server.size()) {
          run.log.push_back("EOF");
          run.results.push_back(c.abort("connection closed"));
          return run;
        }
        {
          ServerReply r = reply(server[next_reply++]);
          run.log.push_back("S: " + std::to_string(r.code));
          s = c.on_reply(r);
        }
        break;
      case Step::start_tls:
        run.log.push_back("TLS");
        s = c.on_tls_ready();
        break;
      case Step::message_done:
        run.results.push_back(c.take_results());
        [[fallthrough]];
      case Step::ready:
        if (next_message < messages.size() && c.reusable()) s = c.begin(messages[next_message++]);
        else s = c.quit();
        break;
      case Step::closed:
        run.log.push_back("CLOSED");
        return run;
      case Step::failed:
        run.log.push_back("FAILED: " + s.error);
        return run;
    }
  }
  FAIL("client loops");
  return run;
}

ClientOptions plain() {
  ClientOptions o;
  o.helo_name = "mx.example.org";
  o.tls = TlsMode::none;
  return o;
}

Envelope env(std::vector<std::string> rcpts, std::string from = "alice@example.org", std::uint64_t size = 100) {
  return Envelope{std::move(from), std::move(rcpts), size};
}

using Log = std::vector<std::string>;

}  // namespace

TEST_CASE("client: one message, one recipient refused, without pipelining", "[relay]") {
  auto r = play(plain(),
                {"220 relay.example ESMTP", kEhlo, "250 2.1.0 Ok", "250 2.1.5 Ok", "550 5.1.1 unknown user",
                 "354 go ahead", "250 2.0.0 queued as X", "221 2.0.0 bye"},
                {env({"bob@far.example", "nobody@far.example"})});
  CHECK(r.log == Log{"S: 220", "C: EHLO mx.example.org", "S: 250",
                     "C: MAIL FROM:<alice@example.org> SIZE=100 BODY=8BITMIME", "S: 250",
                     "C: RCPT TO:<bob@far.example>", "S: 250", "C: RCPT TO:<nobody@far.example>", "S: 550",
                     "C: DATA", "S: 354", "BODY", "S: 250", "C: QUIT", "S: 221", "CLOSED"});
  REQUIRE(r.results.size() == 1);
  REQUIRE(r.results[0].size() == 2);
  CHECK(r.results[0][0].outcome == Outcome::delivered);
  CHECK(r.results[0][0].status == "2.0.0");
  CHECK(r.results[0][0].diagnostic == "250 2.0.0 queued as X");
  CHECK(r.results[0][1].outcome == Outcome::permanent);
  CHECK(r.results[0][1].status == "5.1.1");
  CHECK(r.results[0][1].remote);
}

TEST_CASE("client: PIPELINING sends MAIL, RCPTs and DATA in one write", "[relay]") {
  auto r = play(plain(),
                {"220 hi", kEhloPipe, "250 ok", "450 4.2.1 try later", "250 ok", "354 go", "250 ok", "221 bye"},
                {env({"a@far.example", "b@far.example"}, "", 5)});
  CHECK(r.data == "EHLO mx.example.org\r\nMAIL FROM:<> SIZE=5 BODY=8BITMIME\r\nRCPT TO:<a@far.example>\r\n"
                  "RCPT TO:<b@far.example>\r\nDATA\r\nQUIT\r\n");
  REQUIRE(r.results.size() == 1);
  CHECK(r.results[0][0].outcome == Outcome::temporary);
  CHECK(r.results[0][0].status == "4.2.1");
  CHECK(r.results[0][1].outcome == Outcome::delivered);
}

TEST_CASE("client: pipelined transaction where every recipient is refused", "[relay]") {
  SECTION("DATA refused: RSET closes the transaction") {
    auto r = play(plain(), {"220 hi", kEhloPipe, "250 ok", "550 no", "554 no valid recipients", "250 reset", "221 bye"},
                  {env({"a@far.example"})});
    CHECK(r.log == Log{"S: 220", "C: EHLO mx.example.org", "S: 250", "C: MAIL FROM:<alice@example.org> SIZE=100 BODY=8BITMIME",
                       "C: RCPT TO:<a@far.example>", "C: DATA", "S: 250", "S: 550", "S: 554", "C: RSET", "S: 250",
                       "C: QUIT", "S: 221", "CLOSED"});
    CHECK(r.results[0][0].outcome == Outcome::permanent);
  }
  SECTION("DATA accepted anyway: an empty message ends it (RFC 2920 3.1)") {
    auto r = play(plain(), {"220 hi", kEhloPipe, "250 ok", "550 no", "354 go", "554 no recipients", "221 bye"},
                  {env({"a@far.example"})});
    CHECK(r.data.find("DATA\r\n.\r\nQUIT\r\n") != std::string::npos);
    CHECK(r.results[0][0].outcome == Outcome::permanent);
    CHECK(r.results[0][0].diagnostic == "550 no");
  }
  SECTION("MAIL refused: every recipient gets its reply") {
    auto r = play(plain(), {"220 hi", kEhloPipe, "553 5.7.1 sender refused", "503 no", "503 no", "221 bye"},
                  {env({"a@far.example"})});
    CHECK(r.log.back() == "CLOSED");
    CHECK(r.data.find("RSET") == std::string::npos);  // no transaction was open
    CHECK(r.results[0][0].outcome == Outcome::permanent);
    CHECK(r.results[0][0].status == "5.7.1");
  }
}

TEST_CASE("client: refusals without pipelining", "[relay]") {
  SECTION("MAIL refused temporarily") {
    auto r = play(plain(), {"220 hi", kEhlo, "451 4.3.0 later", "221 bye"}, {env({"a@x.example", "b@x.example"})});
    CHECK(r.results[0][0].outcome == Outcome::temporary);
    CHECK(r.results[0][1].outcome == Outcome::temporary);
    CHECK(r.data.find("RCPT") == std::string::npos);
  }
  SECTION("every RCPT refused: RSET, no DATA") {
    auto r = play(plain(), {"220 hi", kEhlo, "250 ok", "550 no", "250 ok", "221 bye"}, {env({"a@x.example"})});
    CHECK(r.data.find("DATA") == std::string::npos);
    CHECK(r.data.find("RSET\r\n") != std::string::npos);
  }
  SECTION("end of data refused temporarily: accepted recipients are deferred") {
    auto r = play(plain(), {"220 hi", kEhlo, "250 ok", "250 ok", "550 5.1.1 no", "354 go", "451 4.3.0 disk", "221 bye"},
                  {env({"a@x.example", "b@x.example"})});
    CHECK(r.results[0][0].outcome == Outcome::temporary);
    CHECK(r.results[0][0].diagnostic == "451 4.3.0 disk");
    CHECK(r.results[0][1].outcome == Outcome::permanent);
  }
  SECTION("DATA refused") {
    auto r = play(plain(), {"220 hi", kEhlo, "250 ok", "250 ok", "554 5.3.0 no data", "250 reset", "221 bye"},
                  {env({"a@x.example"})});
    CHECK(r.results[0][0].outcome == Outcome::permanent);
    CHECK(r.data.find("RSET\r\n") != std::string::npos);
  }
}

TEST_CASE("client: several messages on one connection", "[relay]") {
  auto r = play(plain(),
                {"220 hi", kEhlo, "250 ok", "250 ok", "354 go", "250 one", "250 ok", "250 ok", "354 go", "250 two",
                 "221 bye"},
                {env({"a@x.example"}), env({"b@x.example"}, "carol@example.org")});
  REQUIRE(r.results.size() == 2);
  CHECK(r.results[0][0].diagnostic == "250 one");
  CHECK(r.results[1][0].diagnostic == "250 two");
  CHECK(r.log.back() == "CLOSED");
}

TEST_CASE("client: EHLO refused falls back to HELO without extensions", "[relay]") {
  auto r = play(plain(), {"220 old", "502 unknown command", "250 old.example", "250 ok", "250 ok", "354 go", "250 ok",
                          "221 bye"},
                {env({"a@x.example"})});
  CHECK(r.log[3] == "C: HELO mx.example.org");
  CHECK(r.data.find("MAIL FROM:<alice@example.org>\r\n") != std::string::npos);  // no SIZE, no BODY
  CHECK(r.results[0][0].outcome == Outcome::delivered);
}

TEST_CASE("client: session failures", "[relay]") {
  CHECK(play(plain(), {"554 5.7.1 go away"}, {}).log.back() == "FAILED: the relay refused the session: 554 5.7.1 go away");
  CHECK(play(plain(), {"220 hi", "421 4.3.2 busy"}, {}).log.back().rfind("FAILED: EHLO refused", 0) == 0);
  ClientOptions o = plain();
  o.tls = TlsMode::starttls;
  CHECK(play(o, {"220 hi", kEhlo}, {}).log.back() ==
        "FAILED: the relay does not offer STARTTLS (relay.tls is starttls)");
  CHECK(play(o, {"220 hi", "250-x\r\n250 STARTTLS", "454 4.7.0 TLS not available"}, {}).log.back() ==
        "FAILED: STARTTLS refused: 454 4.7.0 TLS not available");
}

TEST_CASE("client: STARTTLS then AUTH PLAIN, the password never shown", "[relay]") {
  ClientOptions o = plain();
  o.tls = TlsMode::starttls;
  o.username = "relayuser";
  o.password = "s3cret-pw";
  auto r = play(o,
                {"220 hi", "250-x\r\n250-STARTTLS\r\n250 AUTH LOGIN", "220 go ahead",
                 "250-x\r\n250-AUTH PLAIN LOGIN\r\n250 PIPELINING", "235 2.7.0 ok", "221 bye"},
                {});
  CHECK(r.log == Log{"S: 220", "C: EHLO mx.example.org", "S: 250", "C: STARTTLS", "S: 220", "TLS",
                     "C: EHLO mx.example.org", "S: 250", "C: AUTH PLAIN (credentials hidden)", "S: 235", "C: QUIT",
                     "S: 221", "CLOSED"});
  std::string token("\0relayuser\0s3cret-pw", 20);
  CHECK(r.data.find("AUTH PLAIN " + shicks::base64_encode(token) + "\r\n") != std::string::npos);
  for (const auto& line : r.log) CHECK(line.find("s3cret") == std::string::npos);
}

TEST_CASE("client: AUTH LOGIN, and AUTH refusals", "[relay]") {
  ClientOptions o = plain();
  o.tls = TlsMode::implicit;  // TLS from the start
  o.username = "u";
  o.password = "p";
  auto r = play(o, {"220 hi", "250-x\r\n250 AUTH=LOGIN", "334 VXNlcm5hbWU6", "334 UGFzc3dvcmQ6", "235 ok", "221 bye"}, {});
  CHECK(r.log == Log{"S: 220", "C: EHLO mx.example.org", "S: 250", "C: AUTH LOGIN", "S: 334", "C: (user name)",
                     "S: 334", "C: (password)", "S: 235", "C: QUIT", "S: 221", "CLOSED"});
  CHECK(r.data.find("dQ==\r\ncA==\r\n") != std::string::npos);
  CHECK(play(o, {"220 hi", "250-x\r\n250 AUTH PLAIN", "535 5.7.8 bad credentials"}, {}).log.back() ==
        "FAILED: authentication failed: 535 5.7.8 bad credentials");
  CHECK(play(o, {"220 hi", "250-x\r\n250 AUTH CRAM-MD5"}, {}).log.back() ==
        "FAILED: the relay offers neither AUTH PLAIN nor AUTH LOGIN");
  CHECK(play(o, {"220 hi", "250 x"}, {}).log.back() == "FAILED: the relay does not offer AUTH");
  // relay.tls = none with a username: the password is not sent in the clear.
  ClientOptions n = plain();
  n.username = "u";
  n.password = "p";
  n.relay_host = "smtp.isp.example";
  auto refused = play(n, {"220 hi", "250-x\r\n250 AUTH PLAIN"}, {});
  CHECK(refused.log.back() ==
        "FAILED: refusing to send the relay password without TLS to smtp.isp.example, which is not a loopback "
        "address: use --tls starttls or tls, or --allow-plaintext-auth for a relay on a trusted network");
  CHECK(refused.data.find("AUTH") == std::string::npos);
}

TEST_CASE("client: AUTH without TLS when plaintext AUTH is allowed", "[relay]") {
  // A loopback relay, or relay.allow_plaintext_auth (smtp_client.cpp decides).
  ClientOptions o = plain();
  o.username = "u";
  o.password = "p";
  o.allow_plaintext_auth = true;
  auto r = play(o, {"220 hi", "250-x\r\n250 AUTH PLAIN", "235 ok", "221 bye"}, {});
  CHECK(r.log == Log{"S: 220", "C: EHLO mx.example.org", "S: 250", "C: AUTH PLAIN (credentials hidden)", "S: 235",
                     "C: QUIT", "S: 221", "CLOSED"});
  CHECK(r.data.find("AUTH PLAIN AHUAcA==\r\n") != std::string::npos);
  // Without AUTH offered it still fails as before.
  CHECK(play(o, {"220 hi", "250 x"}, {}).log.back() == "FAILED: the relay does not offer AUTH");
}

TEST_CASE("client: SIZE limit and SMTPUTF8 are checked before MAIL", "[relay]") {
  auto r = play(plain(), {"220 hi", kEhlo, "221 bye"}, {env({"a@x.example"}, "s@example.org", 20000)});
  CHECK(r.data.find("MAIL") == std::string::npos);
  CHECK(r.results[0][0].outcome == Outcome::permanent);
  CHECK(r.results[0][0].status == "5.3.4");
  CHECK_FALSE(r.results[0][0].remote);

  r = play(plain(), {"220 hi", kEhlo, "221 bye"}, {env({"jürgen@x.example"})});
  CHECK(r.results[0][0].status == "5.6.7");
  r = play(plain(), {"220 hi", "250-x\r\n250 SMTPUTF8", "250 ok", "250 ok", "354 go", "250 ok", "221 bye"},
           {env({"jürgen@x.example"})});
  CHECK(r.data.find("MAIL FROM:<alice@example.org> SMTPUTF8\r\n") != std::string::npos);
  CHECK(r.results[0][0].outcome == Outcome::delivered);
}

TEST_CASE("client: a broken connection defers what has no final answer", "[relay]") {
  auto r = play(plain(), {"220 hi", kEhlo, "250 ok", "250 ok", "550 5.1.1 no", "354 go"},
                {env({"a@x.example", "b@x.example"})});
  CHECK(r.log.back() == "EOF");
  REQUIRE(r.results.size() == 1);
  CHECK(r.results[0][0].outcome == Outcome::temporary);  // accepted at RCPT, but no reply to the data
  CHECK(r.results[0][0].status == "4.4.2");
  CHECK(r.results[0][0].diagnostic == "connection closed");
  CHECK(r.results[0][1].outcome == Outcome::permanent);  // its refusal stands
}

TEST_CASE("client: EHLO keywords", "[relay]") {
  auto e = parse_ehlo(ServerReply{250, "", {"x", "size 5000", "Pipelining", "AUTH=PLAIN", "8bitmime", "STARTTLS"}});
  CHECK(e.esmtp);
  CHECK(e.size);
  CHECK(e.size_limit == 5000);
  CHECK(e.pipelining);
  CHECK(e.auth_plain);
  CHECK_FALSE(e.auth_login);
  CHECK(e.eightbitmime);
  CHECK(e.starttls);
  CHECK_FALSE(e.smtputf8);
  CHECK(parse_tls_mode("none") == TlsMode::none);
  CHECK(parse_tls_mode("tls") == TlsMode::implicit);
  CHECK(parse_tls_mode("starttls") == TlsMode::starttls);
}
