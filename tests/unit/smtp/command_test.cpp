#include <catch2/catch.hpp>

#include <random>
#include <string>

#include "server/smtp/command.hpp"

using namespace shicks::smtp;

namespace {

template <std::size_t N>
std::string with_nul(const char (&lit)[N]) {
  return std::string(lit, N - 1);
}

Command ok(std::string_view line, bool utf8_ok = false) {
  auto c = parse_command(line, utf8_ok);
  if (!c) FAIL("line: " << std::string(line) << " -> " << c.error().render());
  return std::move(*c);
}

}  // namespace

TEST_CASE("parse_command: verbs and their plain arguments", "[smtp][command]") {
  struct Case {
    std::string line;
    Verb verb;
    std::string arg;
  };
  const Case cases[] = {
      {"HELO example.com", Verb::helo, "example.com"},
      {"helo example.com", Verb::helo, "example.com"},
      {"HeLo Example.COM", Verb::helo, "Example.COM"},  // kept as is
      {"EHLO [192.0.2.1]", Verb::ehlo, "[192.0.2.1]"},
      {"EHLO   client.example  ", Verb::ehlo, "client.example"},
      {"EHLO\tclient", Verb::ehlo, "client"},
      {"EHLO localhost", Verb::ehlo, "localhost"},
      {"DATA", Verb::data, ""},
      {"data", Verb::data, ""},
      {"DATA  ", Verb::data, ""},
      {"RSET", Verb::rset, ""},
      {"QUIT", Verb::quit, ""},
      {"quit ", Verb::quit, ""},
      {"STARTTLS", Verb::starttls, ""},
      {"NOOP", Verb::noop, ""},
      {"NOOP hello there", Verb::noop, "hello there"},
      {"HELP", Verb::help, ""},
      {"HELP MAIL", Verb::help, "MAIL"},
      {"VRFY user", Verb::vrfy, "user"},
      {"VRFY \"John Doe\" <jd@example.com>", Verb::vrfy, "\"John Doe\" <jd@example.com>"},
      {"EXPN staff", Verb::expn, "staff"},
      {"AUTH PLAIN dGVzdAB0ZXN0AHRlc3Q=", Verb::auth, "PLAIN dGVzdAB0ZXN0AHRlc3Q="},
      {"auth login", Verb::auth, "login"},
      {"AUTH PLAIN =", Verb::auth, "PLAIN ="},
  };
  for (const auto& c : cases) {
    const Command cmd = ok(c.line);
    CHECK(cmd.verb == c.verb);
    CHECK(cmd.arg == c.arg);
  }
}

TEST_CASE("parse_command: MAIL FROM and its parameters", "[smtp][command]") {
  {
    const Command c = ok("MAIL FROM:<a@b.example>");
    CHECK(c.verb == Verb::mail);
    CHECK(c.path.mailbox.str() == "a@b.example");
    CHECK_FALSE(c.size);
    CHECK(c.body == Body::unspecified);
    CHECK_FALSE(c.smtputf8);
    CHECK_FALSE(c.auth);
  }
  CHECK(ok("mail from:<a@b.example>").path.mailbox.str() == "a@b.example");
  CHECK(ok("MAIL FROM: <a@b.example>").path.mailbox.str() == "a@b.example");  // common, lenient
  CHECK(ok("MAIL  FROM:<a@b.example>  ").path.mailbox.str() == "a@b.example");
  CHECK(ok("MAIL FROM:<>").path.null);
  CHECK(ok("MAIL FROM:<@hop.example:a@b.example>").path.mailbox.str() == "a@b.example");
  CHECK(ok("MAIL FROM:<\"x y\"@b.example>").path.mailbox.local == "x y");
  CHECK(ok("MAIL FROM:<\"x> y\"@b.example> SIZE=5").path.mailbox.local == "x> y");
  {
    const Command c = ok("MAIL FROM:<a@b> SIZE=1000 BODY=8BITMIME");
    CHECK(c.size == 1000u);
    CHECK(c.body == Body::eight_bit_mime);
  }
  {
    const Command c = ok("MAIL FROM:<a@b>  size=0 \t body=7bit  ");
    CHECK(c.size == 0u);
    CHECK(c.body == Body::seven_bit);
  }
  CHECK(ok("MAIL FROM:<a@b> BODY=BinaryMIME").body == Body::binary_mime);
  CHECK(ok("MAIL FROM:<a@b> SIZE=18446744073709551615").size == UINT64_MAX);
  CHECK(ok("MAIL FROM:<a@b> SIZE=00000000000000000042").size == 42u);
  {
    // RFC 6531: the SMTPUTF8 parameter allows UTF-8 in this very MAIL command.
    const Command c = ok("MAIL FROM:<pel\xC3\xA9@b.example> SMTPUTF8");
    CHECK(c.smtputf8);
    CHECK(c.path.mailbox.utf8);
    CHECK(ok("MAIL FROM:<pel\xC3\xA9@b.example>", true).path.mailbox.utf8);
    CHECK(ok("MAIL FROM:<a@b> smtputf8 BODY=8BITMIME").smtputf8);
  }
  // RFC 4954 5: AUTH=<> or an xtext-encoded addr-spec.
  CHECK(ok("MAIL FROM:<a@b> AUTH=<>").auth == std::string("<>"));
  CHECK(ok("MAIL FROM:<a@b> AUTH=user+2Bx@example.com").auth == std::string("user+x@example.com"));
  CHECK(ok("MAIL FROM:<a@b> auth=e+3Dmc2@example.com").auth == std::string("e=mc2@example.com"));
  CHECK(ok("MAIL FROM:<a@b> AUTH=a+2bb").auth == std::string("a+b"));
  {
    const Command c = ok("MAIL FROM:<> SIZE=10 BODY=7BIT SMTPUTF8 AUTH=<>");
    CHECK(c.path.null);
    CHECK(c.size == 10u);
    CHECK(c.body == Body::seven_bit);
    CHECK(c.smtputf8);
    CHECK(c.auth == std::string("<>"));
  }
}

TEST_CASE("parse_command: RCPT TO", "[smtp][command]") {
  {
    const Command c = ok("RCPT TO:<c@d.example>");
    CHECK(c.verb == Verb::rcpt);
    CHECK(c.path.mailbox.str() == "c@d.example");
    CHECK_FALSE(c.path.postmaster);
  }
  CHECK(ok("rcpt to: <C@D.Example>").path.mailbox.str() == "C@d.example");
  CHECK(ok("RCPT TO:<Postmaster>").path.postmaster);
  CHECK(ok("RCPT TO:<postmaster>").path.postmaster);
  CHECK_FALSE(ok("RCPT TO:<postmaster@d.example>").path.postmaster);
  CHECK(ok("RCPT TO:<@hop1,@hop2:c@d.example>").path.mailbox.str() == "c@d.example");
  CHECK(ok("RCPT TO:<c@d.example>   ").path.mailbox.str() == "c@d.example");
  CHECK(ok("RCPT TO:<c@[192.0.2.7]>").path.mailbox.domain == "[192.0.2.7]");
  CHECK(ok("RCPT TO:<pel\xC3\xA9@d.example>", true).path.mailbox.utf8);
}

TEST_CASE("parse_command: BDAT", "[smtp][command]") {
  struct Case {
    const char* line;
    std::uint64_t size;
    bool last;
  };
  const Case cases[] = {
      {"BDAT 1000", 1000, false},
      {"BDAT 0 LAST", 0, true},
      {"bdat 12 last", 12, true},
      {"BDAT 5  LAST ", 5, true},
      {"BDAT 18446744073709551615", UINT64_MAX, false},
  };
  for (const auto& c : cases) {
    const Command cmd = ok(c.line);
    CHECK(cmd.verb == Verb::bdat);
    CHECK(cmd.chunk_size == c.size);
    CHECK(cmd.last == c.last);
  }
}

TEST_CASE("parse_command: errors are the exact reply to send", "[smtp][command]") {
  struct Case {
    std::string line;
    bool utf8_ok;
    int code;
    const char* status;
    const char* text;  // nullptr: not checked
  };
  const std::string l65(65, 'l');
  const Case cases[] = {
      // Unknown verbs (RFC 5321 4.2.4).
      {"", false, 500, "5.5.2", "Command unrecognized"},
      {"FOO", false, 500, "5.5.2", "Command unrecognized"},
      {"FOO bar", false, 500, "5.5.2", "Command unrecognized"},
      {"MAILFROM:<a@b>", false, 500, "5.5.2", "Command unrecognized"},
      {" HELO x", false, 500, "5.5.2", "Command unrecognized"},
      {"HEL0 x", false, 500, "5.5.2", "Command unrecognized"},
      {"HELOx", false, 500, "5.5.2", "Command unrecognized"},
      {"H\xC3\xA9LO x", false, 500, "5.5.2", "Command unrecognized"},
      {"GET / HTTP/1.1", false, 500, "5.5.2", "Command unrecognized"},
      {"STARTTLSX", false, 500, "5.5.2", "Command unrecognized"},
      // Control bytes anywhere.
      {with_nul("HELO ex\0ample"), false, 501, "5.5.2", "Invalid character in command"},
      {with_nul("\0"), false, 501, "5.5.2", "Invalid character in command"},
      {"NOOP \x7f", false, 501, "5.5.2", "Invalid character in command"},
      {"DATA\r", false, 501, "5.5.2", "Invalid character in command"},
      {"RSET\x1b[0m", false, 501, "5.5.2", "Invalid character in command"},
      {"MAIL FROM:<a\x01@b>", false, 501, "5.5.2", "Invalid character in command"},
      {"FOO\x08", false, 501, "5.5.2", "Invalid character in command"},
      // Non-ASCII outside a path.
      {"EHLO h\xC3\xA9.example", false, 500, "5.5.2", "Non-ASCII character in command"},
      {"EHLO h\xC3\xA9.example", true, 500, "5.5.2", "Non-ASCII character in command"},
      {"NOOP \xFF", false, 500, "5.5.2", "Non-ASCII character in command"},
      {"AUTH PLAIN \xC3\xA9", false, 500, "5.5.2", "Non-ASCII character in command"},
      {"MAIL FROM:<a@b> SIZE=1\xC3\xA9", true, 500, "5.5.2", "Non-ASCII character in command"},
      // Missing or extra arguments.
      {"HELO", false, 501, "5.5.4", "Syntax: HELO hostname"},
      {"EHLO", false, 501, "5.5.4", "Syntax: EHLO hostname"},
      {"EHLO   ", false, 501, "5.5.4", "Syntax: EHLO hostname"},
      {"EHLO a b", false, 501, "5.5.4", "Syntax: EHLO hostname"},
      {"HELO a\tb", false, 501, "5.5.4", "Syntax: HELO hostname"},
      {"DATA x", false, 501, "5.5.4", "Syntax: DATA"},
      {"RSET now", false, 501, "5.5.4", "Syntax: RSET"},
      {"QUIT please", false, 501, "5.5.4", "Syntax: QUIT"},
      {"STARTTLS x", false, 501, "5.5.4", "Syntax: STARTTLS"},
      {"VRFY", false, 501, "5.5.4", "Syntax: VRFY address"},
      {"EXPN", false, 501, "5.5.4", "Syntax: EXPN list"},
      {"AUTH", false, 501, "5.5.4", "Syntax: AUTH mechanism [initial-response]"},
      {"AUTH   ", false, 501, "5.5.4", "Syntax: AUTH mechanism [initial-response]"},
      {"BDAT", false, 501, "5.5.4", "Syntax: BDAT chunk-size [LAST]"},
      {"BDAT x", false, 501, "5.5.4", "Syntax: BDAT chunk-size [LAST]"},
      {"BDAT -1", false, 501, "5.5.4", "Syntax: BDAT chunk-size [LAST]"},
      {"BDAT +1", false, 501, "5.5.4", "Syntax: BDAT chunk-size [LAST]"},
      {"BDAT 10 FIRST", false, 501, "5.5.4", "Syntax: BDAT chunk-size [LAST]"},
      {"BDAT 10 LAST x", false, 501, "5.5.4", "Syntax: BDAT chunk-size [LAST]"},
      {"BDAT LAST", false, 501, "5.5.4", "Syntax: BDAT chunk-size [LAST]"},
      {"BDAT 123456789012345678901", false, 501, "5.5.4", "Syntax: BDAT chunk-size [LAST]"},
      {"BDAT 18446744073709551616", false, 501, "5.5.4", "Syntax: BDAT chunk-size [LAST]"},
      // MAIL: command shape.
      {"MAIL", false, 501, "5.5.4", "Syntax: MAIL FROM:<address> [parameters]"},
      {"MAIL FROM", false, 501, "5.5.4", "Syntax: MAIL FROM:<address> [parameters]"},
      {"MAIL FROM:", false, 501, "5.5.4", "Syntax: MAIL FROM:<address> [parameters]"},
      {"MAIL TO:<a@b>", false, 501, "5.5.4", "Syntax: MAIL FROM:<address> [parameters]"},
      {"MAIL FROM:a@b", false, 501, "5.5.4", "Syntax: MAIL FROM:<address> [parameters]"},
      {"MAIL FROM :<a@b>", false, 501, "5.5.4", "Syntax: MAIL FROM:<address> [parameters]"},
      {"MAIL FROM:<a@b>SIZE=1", false, 501, "5.5.4", "Syntax: MAIL FROM:<address> [parameters]"},
      // MAIL: parameters (RFC 1870, RFC 6152, RFC 6531, RFC 4954 5).
      {"MAIL FROM:<a@b> SIZE", false, 501, "5.5.4", "Invalid SIZE value"},
      {"MAIL FROM:<a@b> SIZE=", false, 501, "5.5.4", "Syntax error in parameters"},
      {"MAIL FROM:<a@b> SIZE=abc", false, 501, "5.5.4", "Invalid SIZE value"},
      {"MAIL FROM:<a@b> SIZE=-1", false, 501, "5.5.4", "Invalid SIZE value"},
      {"MAIL FROM:<a@b> SIZE=1k", false, 501, "5.5.4", "Invalid SIZE value"},
      {"MAIL FROM:<a@b> SIZE=123456789012345678901", false, 501, "5.5.4", "Invalid SIZE value"},
      {"MAIL FROM:<a@b> SIZE=18446744073709551616", false, 501, "5.5.4", "Invalid SIZE value"},
      {"MAIL FROM:<a@b> SIZE==1", false, 501, "5.5.4", "Syntax error in parameters"},
      {"MAIL FROM:<a@b> BODY=9BIT", false, 501, "5.5.4", "Invalid BODY value"},
      {"MAIL FROM:<a@b> BODY", false, 501, "5.5.4", "Invalid BODY value"},
      {"MAIL FROM:<a@b> SMTPUTF8=yes", false, 501, "5.5.4", "SMTPUTF8 takes no value"},
      {"MAIL FROM:<a@b> AUTH", false, 501, "5.5.4", "Invalid AUTH value"},
      {"MAIL FROM:<a@b> AUTH=+ZZ", false, 501, "5.5.4", "Invalid AUTH value"},
      {"MAIL FROM:<a@b> AUTH=ab+4", false, 501, "5.5.4", "Invalid AUTH value"},
      {"MAIL FROM:<a@b> AUTH=a+00b", false, 501, "5.5.4", "Invalid AUTH value"},
      {"MAIL FROM:<a@b> AUTH=a+0Db", false, 501, "5.5.4", "Invalid AUTH value"},
      {"MAIL FROM:<a@b> SIZE=1 SIZE=2", false, 501, "5.5.4", "Duplicate parameter SIZE"},
      {"MAIL FROM:<a@b> body=7BIT BODY=8BITMIME", false, 501, "5.5.4", "Duplicate parameter BODY"},
      {"MAIL FROM:<a@b> SMTPUTF8 smtputf8", false, 501, "5.5.4", "Duplicate parameter SMTPUTF8"},
      {"MAIL FROM:<a@b> AUTH=<> AUTH=<>", false, 501, "5.5.4", "Duplicate parameter AUTH"},
      {"MAIL FROM:<a@b> =x", false, 501, "5.5.4", "Syntax error in parameters"},
      {"MAIL FROM:<a@b> -X=1", false, 501, "5.5.4", "Syntax error in parameters"},
      {"MAIL FROM:<a@b> X_Y=1", false, 501, "5.5.4", "Syntax error in parameters"},
      {"MAIL FROM:<a@b> FOO=bar", false, 555, "5.5.4", "Unsupported MAIL parameter FOO"},
      {"MAIL FROM:<a@b> ret=HDRS", false, 555, "5.5.4", "Unsupported MAIL parameter RET"},
      {"MAIL FROM:<a@b> SIZE=10 X-FOO", false, 555, "5.5.4", "Unsupported MAIL parameter X-FOO"},
      // MAIL: the reverse-path (553, 5.1.7 = bad sender's mailbox syntax).
      {"MAIL FROM:<a b@c>", false, 553, "5.1.7", "Bad sender address syntax: Invalid local part"},
      {"MAIL FROM:<a@b", false, 553, "5.1.7", "Bad sender address syntax: Missing '>'"},
      {"MAIL FROM:<\"a@b>", false, 553, "5.1.7", "Bad sender address syntax: Missing '>'"},
      {"MAIL FROM:<Postmaster>", false, 553, "5.1.7", "Bad sender address syntax: Missing @domain"},
      {"MAIL FROM:<a@b.>", false, 553, "5.1.7", "Bad sender address syntax: Invalid domain (empty label)"},
      {"MAIL FROM:<a>", false, 553, "5.1.7", "Bad sender address syntax: Missing @domain"},
      {"MAIL FROM:<" + l65 + "@b.example>", false, 553, "5.1.7",
       "Bad sender address syntax: Local part too long (max 64 octets)"},
      {"MAIL FROM:<" + std::string(300, 'x') + ">", false, 553, "5.1.7",
       "Bad sender address syntax: Path too long (max 256 octets)"},
      {"MAIL FROM:<pel\xC3\xA9@b.example>", false, 553, "5.6.7", "Non-ASCII address requires SMTPUTF8"},
      {"MAIL FROM:<pel\xC3\xA9@b.example> BODY=8BITMIME", false, 553, "5.6.7", "Non-ASCII address requires SMTPUTF8"},
      {"MAIL FROM:<pel\xFF@b.example> SMTPUTF8", false, 553, "5.1.7", "Bad sender address syntax: Invalid UTF-8 in address"},
      // RCPT.
      {"RCPT", false, 501, "5.5.4", "Syntax: RCPT TO:<address>"},
      {"RCPT TO:", false, 501, "5.5.4", "Syntax: RCPT TO:<address>"},
      {"RCPT TO:c@d", false, 501, "5.5.4", "Syntax: RCPT TO:<address>"},
      {"RCPT FROM:<c@d>", false, 501, "5.5.4", "Syntax: RCPT TO:<address>"},
      {"RCPT TO:<c@d>x", false, 501, "5.5.4", "Syntax: RCPT TO:<address>"},
      {"RCPT TO:<>", false, 553, "5.1.3", "Bad recipient address syntax: Null recipient"},
      {"RCPT TO:<c@-d>", false, 553, "5.1.3", "Bad recipient address syntax: Invalid domain"},
      {"RCPT TO:<c@d.example", false, 553, "5.1.3", "Bad recipient address syntax: Missing '>'"},
      {"RCPT TO:<" + l65 + "@d.example>", false, 553, "5.1.3",
       "Bad recipient address syntax: Local part too long (max 64 octets)"},
      {"RCPT TO:<pel\xC3\xA9@d.example>", false, 553, "5.6.7", "Non-ASCII address requires SMTPUTF8"},
      {"RCPT TO:<c@d> NOTIFY=NEVER", false, 555, "5.5.4", "Unsupported RCPT parameter NOTIFY"},
      {"RCPT TO:<c@d> SMTPUTF8", true, 555, "5.5.4", "Unsupported RCPT parameter SMTPUTF8"},
      {"RCPT TO:<c@d> =x", false, 501, "5.5.4", "Syntax error in parameters"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.line, c.utf8_ok);
    auto r = parse_command(c.line, c.utf8_ok);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == c.code);
    CHECK(r.error().status == c.status);
    if (c.text) {
      REQUIRE(r.error().lines.size() == 1);
      CHECK(r.error().lines[0] == c.text);
    }
  }
}

TEST_CASE("verb_name names every verb", "[smtp][command]") {
  CHECK(std::string(verb_name(Verb::helo)) == "HELO");
  CHECK(std::string(verb_name(Verb::ehlo)) == "EHLO");
  CHECK(std::string(verb_name(Verb::mail)) == "MAIL");
  CHECK(std::string(verb_name(Verb::rcpt)) == "RCPT");
  CHECK(std::string(verb_name(Verb::data)) == "DATA");
  CHECK(std::string(verb_name(Verb::bdat)) == "BDAT");
  CHECK(std::string(verb_name(Verb::rset)) == "RSET");
  CHECK(std::string(verb_name(Verb::noop)) == "NOOP");
  CHECK(std::string(verb_name(Verb::quit)) == "QUIT");
  CHECK(std::string(verb_name(Verb::help)) == "HELP");
  CHECK(std::string(verb_name(Verb::vrfy)) == "VRFY");
  CHECK(std::string(verb_name(Verb::expn)) == "EXPN");
  CHECK(std::string(verb_name(Verb::starttls)) == "STARTTLS");
  CHECK(std::string(verb_name(Verb::auth)) == "AUTH");
}

TEST_CASE("parse_command survives random lines", "[smtp][command]") {
  // Lines built from command fragments and hostile bytes; the parser must return
  // a value or a reply whose rendering is one well-formed line.
  const std::string fragments[] = {"MAIL", "RCPT", "FROM:", "TO:", "<", ">", "@", "\"", "\\", " ", "\t", "=", "SIZE",
                             "BODY", "AUTH", "+2B", "SMTPUTF8", "[", "]", "IPv6:", ":", ".", "a", "\xC3\xA9",
                             "\xFF", std::string(1, '\0'), "BDAT", "1", "LAST", "EHLO", "postmaster"};
  std::mt19937 rng(5321);
  for (int n = 0; n < 20000; ++n) {
    const char* starts[] = {"MAIL FROM:<", "RCPT TO:<", "MAIL FROM:", "EHLO ", "BDAT ", "AUTH ", "NOOP", ""};
    std::string line = starts[rng() % std::size(starts)];
    const int parts = int(rng() % 12);
    for (int i = 0; i < parts; ++i) line += fragments[rng() % std::size(fragments)];
    for (bool utf8 : {false, true}) {
      auto r = parse_command(line, utf8);
      if (!r) {
        const std::string out = r.error().render();
        REQUIRE(out.size() >= 6);
        REQUIRE(out.find("\r\n") == out.size() - 2);
        REQUIRE(r.error().permanent());
      } else if (r->verb == Verb::mail || r->verb == Verb::rcpt) {
        // A parsed path re-parses to the same mailbox.
        if (!r->path.null && !r->path.postmaster) {
          auto again = shicks::mail::parse_path("<" + r->path.mailbox.str() + ">", true);
          REQUIRE(again);
          REQUIRE(again->mailbox.str() == r->path.mailbox.str());
        }
      }
    }
  }
}
