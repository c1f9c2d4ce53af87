// The SMTP state machine, driven by transcripts: "C: " lines go in, the first line of
// the reply must start with the "S: " text. Side effects are answered by a fake
// driver (a table of addresses and users), which is fine for pure code.
#include <catch2/catch.hpp>

#include <map>
#include <string>
#include <vector>

#include "common/base64.hpp"
#include "server/smtp/protocol.hpp"

using namespace shicks;
using namespace shicks::smtp;

namespace {

struct FakeDriver {
  std::map<std::string, RecipientLookup::Kind> addresses = {
      {"alice@example.org", RecipientLookup::local},
      {"postmaster@mail.example.org", RecipientLookup::local},
      {"nobody@example.org", RecipientLookup::unknown_local},
      {"off@example.org", RecipientLookup::disabled},
      {"down@example.org", RecipientLookup::temp_failure},
  };
  std::map<std::string, std::string> passwords = {{"alice", "secret"}};
  std::map<std::string, std::string> owned = {{"alice@example.org", "alice"}};
  bool store_fails = false;
  bool disk_full = false;
  int delivered = 0;
  bool tls_started = false;

  // Runs the action's side effects until there is something to send.
  Action settle(Protocol& p, Action a) {
    for (;;) {
      switch (a.kind) {
        case Action::lookup_recipient: {
          RecipientLookup l;
          std::string key = a.mailbox.str();
          for (char& ch : key) ch = char(std::tolower(static_cast<unsigned char>(ch)));  // as the DB collation
          auto it = addresses.find(key);
          l.kind = it == addresses.end() ? RecipientLookup::foreign : it->second;
          if (l.kind == RecipientLookup::local) l.user_ids = {1};
          a = p.on_recipient(l);
          continue;
        }
        case Action::check_sender: {
          auto it = owned.find(a.mailbox.str());
          a = p.on_sender_checked(it != owned.end() && it->second == p.authenticated_user(), false);
          continue;
        }
        case Action::authenticate: {
          auto it = passwords.find(a.credentials.username);
          bool ok = it != passwords.end() && it->second == a.credentials.password;
          a = p.on_auth_result(ok ? Protocol::AuthOutcome::ok : Protocol::AuthOutcome::bad_credentials,
                               a.credentials.username);
          continue;
        }
        case Action::deliver: {
          DeliveryResult r;
          r.kind = store_fails ? DeliveryResult::outcome_unknown
                   : disk_full ? DeliveryResult::insufficient_storage
                               : DeliveryResult::committed;
          r.id = "ID1";
          if (!store_fails && !disk_full) ++delivered;
          a = p.on_delivered(r);
          continue;
        }
        default:
          return a;
      }
    }
  }
};

Policy mx_policy() {
  Policy p;
  p.hostname = "mail.example.org";
  p.tls_available = true;
  p.peer_loopback = false;
  p.max_recipients = 3;
  p.max_errors = 20;
  return p;
}

std::string first_line(const Reply& r) {
  std::string s = r.render();
  return s.substr(0, s.find("\r\n"));
}

// Plays "C: line" / "S: prefix" pairs; "DATA-END bare|nul|big|ok" finishes a DATA.
void play(Protocol& p, FakeDriver& d, const std::vector<std::string>& script) {
  Action last;
  for (const auto& step : script) {
    INFO(step);
    if (step.rfind("C: ", 0) == 0) {
      last = d.settle(p, p.on_line(step.substr(3)));
    } else if (step.rfind("DATA-END ", 0) == 0) {
      Protocol::DataOutcome o;
      o.bare_line_ending = step == "DATA-END bare";
      o.nul = step == "DATA-END nul";
      o.too_big = step == "DATA-END big";
      last = d.settle(p, p.on_data_end(o));
    } else if (step == "TLS") {
      REQUIRE(last.kind == Action::start_tls);
      p.on_tls_started();
    } else if (step.rfind("S: ", 0) == 0) {
      CHECK(first_line(last.reply).rfind(step.substr(3), 0) == 0);
      if (first_line(last.reply).rfind(step.substr(3), 0) != 0) FAIL_CHECK("got: " << first_line(last.reply));
    } else if (step == "CLOSE") {
      CHECK(last.kind == Action::close);
    }
  }
}
}  // namespace

TEST_CASE("a plain delivery on the MX listener", "[smtp][protocol]") {
  Protocol p(mx_policy());
  FakeDriver d;
  CHECK(first_line(p.greeting()) == "220 mail.example.org ESMTP Shicks");
  play(p, d,
       {"C: EHLO client.example", "S: 250-mail.example.org", "C: MAIL FROM:<sender@remote.example>",
        "S: 250 2.1.0", "C: RCPT TO:<alice@example.org>", "S: 250 2.1.5", "C: DATA", "S: 354 ",
        "DATA-END ok", "S: 250 2.0.0 Ok: queued as ID1", "C: QUIT", "S: 221 2.0.0", "CLOSE"});
  CHECK(d.delivered == 1);
  CHECK(p.with_protocol() == "ESMTP");
}

TEST_CASE("EHLO lists the extensions, AUTH only under TLS or from loopback", "[smtp][protocol]") {
  Protocol p(mx_policy());
  FakeDriver d;
  Action a = p.on_line("EHLO x");
  std::string text = a.reply.render();
  for (const char* ext : {"PIPELINING", "SIZE 26214400", "8BITMIME", "ENHANCEDSTATUSCODES", "SMTPUTF8", "STARTTLS"})
    CHECK(text.find(ext) != std::string::npos);
  CHECK(text.find("AUTH") == std::string::npos);
  play(p, d, {"C: AUTH PLAIN AGFsaWNlAHNlY3JldA==", "S: 538 5.7.11"});

  Policy lo = mx_policy();
  lo.peer_loopback = true;
  Protocol q(lo);
  CHECK(q.on_line("EHLO x").reply.render().find("AUTH PLAIN LOGIN") != std::string::npos);
  lo.plaintext_auth_on_loopback = false;
  Protocol r(lo);
  CHECK(r.on_line("EHLO x").reply.render().find("AUTH") == std::string::npos);
}

TEST_CASE("recipient outcomes map to RFC replies", "[smtp][protocol]") {
  Protocol p(mx_policy());
  FakeDriver d;
  play(p, d,
       {"C: EHLO x", "C: MAIL FROM:<>", "S: 250 2.1.0", "C: RCPT TO:<nobody@example.org>", "S: 550 5.1.1",
        "C: RCPT TO:<off@example.org>", "S: 550 5.2.1", "C: RCPT TO:<down@example.org>", "S: 451 4.3.0",
        "C: RCPT TO:<someone@elsewhere.example>", "S: 550 5.7.1", "C: RCPT TO:<Postmaster>", "S: 250 2.1.5",
        "C: RCPT TO:<ALICE@example.org>", "S: 250 2.1.5", "C: RCPT TO:<alice@example.org>", "S: 250 2.1.5"});
  // Same mailbox twice: one recipient.
  CHECK(p.transaction().recipients.size() == 2);
}

TEST_CASE("relaying needs trust or AUTH, and a configured relay", "[smtp][protocol]") {
  Policy pol = mx_policy();
  pol.peer_trusted = true;
  pol.relay_configured = false;
  Protocol a(pol);
  FakeDriver d;
  play(a, d, {"C: EHLO x", "C: MAIL FROM:<s@remote.example>", "C: RCPT TO:<r@far.example>", "S: 550 5.7.1"});
  pol.relay_configured = true;
  Protocol b(pol);
  play(b, d, {"C: EHLO x", "C: MAIL FROM:<s@remote.example>", "C: RCPT TO:<r@far.example>", "S: 250 2.1.5"});
  REQUIRE(b.transaction().recipients.size() == 1);
  CHECK(b.transaction().recipients[0].relay);
  pol.peer_trusted = false;
  Protocol c(pol);
  play(c, d, {"C: EHLO x", "C: MAIL FROM:<s@remote.example>", "C: RCPT TO:<r@far.example>", "S: 550 5.7.1"});
}

TEST_CASE("commands out of sequence get 503 5.5.1", "[smtp][protocol]") {
  Protocol p(mx_policy());
  FakeDriver d;
  play(p, d,
       {"C: MAIL FROM:<a@b.example>", "S: 503 5.5.1", "C: RCPT TO:<alice@example.org>", "S: 503 5.5.1",
        "C: DATA", "S: 503 5.5.1", "C: HELO x", "S: 250 mail.example.org", "C: MAIL FROM:<a@b.example>",
        "S: 250 2.1.0", "C: MAIL FROM:<a@b.example>", "S: 503 5.5.1", "C: DATA", "S: 554 5.5.1", "C: RSET",
        "S: 250 2.0.0", "C: RCPT TO:<alice@example.org>", "S: 503 5.5.1", "C: VRFY alice", "S: 252 2.5.0",
        "C: NOOP", "S: 250 2.0.0", "C: HELP", "S: 214 2.0.0", "C: EXPN list", "S: 502 5.5.1",
        "C: BDAT 10 LAST", "S: 502 5.5.1"});
}

TEST_CASE("MAIL parameters: SIZE, BODY, SMTPUTF8", "[smtp][protocol]") {
  Protocol p(mx_policy());
  FakeDriver d;
  play(p, d,
       {"C: EHLO x", "C: MAIL FROM:<a@b.example> SIZE=26214401", "S: 552 5.3.4",
        "C: MAIL FROM:<a@b.example> SIZE=1000 BODY=8BITMIME", "S: 250 2.1.0", "C: RSET",
        "C: MAIL FROM:<a@b.example> BODY=BINARYMIME", "S: 555 5.5.4",
        "C: MAIL FROM:<\xC3\xBC@b.example> SMTPUTF8", "S: 250 2.1.0"});
  CHECK(p.transaction().smtputf8);
  CHECK(p.with_protocol() == "UTF8SMTP");
  Protocol helo(mx_policy());
  play(helo, d, {"C: HELO x", "C: MAIL FROM:<a@b.example> SIZE=10", "S: 555 5.5.4"});
}

TEST_CASE("the end of DATA: bare line ends, size, storage trouble", "[smtp][protocol]") {
  Protocol p(mx_policy());
  FakeDriver d;
  std::vector<std::string> to_data = {"C: EHLO x", "C: MAIL FROM:<a@b.example>", "C: RCPT TO:<alice@example.org>",
                                      "C: DATA", "S: 354"};
  play(p, d, to_data);
  play(p, d, {"DATA-END bare", "S: 550 5.5.2"});
  CHECK(p.transaction().recipients.empty());  // the transaction is over
  play(p, d, {"C: MAIL FROM:<a@b.example>", "C: RCPT TO:<alice@example.org>", "C: DATA", "DATA-END big",
              "S: 552 5.3.4"});
  d.store_fails = true;
  play(p, d, {"C: MAIL FROM:<a@b.example>", "C: RCPT TO:<alice@example.org>", "C: DATA", "DATA-END ok",
              "S: 451 4.3.0"});
  CHECK(d.delivered == 0);
  d.store_fails = false;
  d.disk_full = true;  // the database's disk has too little room: nothing was stored
  play(p, d, {"C: MAIL FROM:<a@b.example>", "C: RCPT TO:<alice@example.org>", "C: DATA", "DATA-END ok",
              "S: 452 4.3.1"});
  CHECK(d.delivered == 0);
  CHECK(p.transaction().recipients.empty());
}

namespace {
// An authenticated session on `listener` (under TLS) with a transaction up to DATA;
// returns the action DATA got.
Action data_on(Protocol& p, FakeDriver& d, bool login) {
  play(p, d, {"C: EHLO x"});
  if (login) play(p, d, {"C: AUTH PLAIN " + base64_encode(std::string("\0alice\0secret", 13)), "S: 235 2.7.0"});
  play(p, d, {"C: MAIL FROM:<alice@example.org>", "C: RCPT TO:<alice@example.org>", "S: 250 2.1.5"});
  return d.settle(p, p.on_line("DATA"));
}

Policy tls_policy(Listener l) {
  Policy pol = mx_policy();
  pol.listener = l;
  pol.tls_active = true;
  return pol;
}
}  // namespace

TEST_CASE("a NUL in the message gets 554 5.6.0 on every listener, and the session goes on", "[smtp][protocol]") {
  for (const Listener l : {Listener::mx, Listener::submission, Listener::smtps}) {
    CAPTURE(int(l));
    Protocol p(tls_policy(l));
    FakeDriver d;
    REQUIRE(data_on(p, d, l != Listener::mx).kind == Action::read_data);
    play(p, d, {"DATA-END nul", "S: 554 5.6.0 Error: NUL character in the message"});
    CHECK(p.transaction().recipients.empty());  // reset: nothing is stored
    CHECK(d.delivered == 0);
    play(p, d, {"C: RCPT TO:<alice@example.org>", "S: 503 5.5.1", "C: MAIL FROM:<alice@example.org>",
                "C: RCPT TO:<alice@example.org>", "C: DATA", "S: 354", "DATA-END ok", "S: 250 2.0.0"});
    CHECK(d.delivered == 1);
    CHECK(p.errors() == 2);  // the 554 counts toward the error budget, like the 550 5.5.2
  }
}

TEST_CASE("a bare LF in DATA is a line end only on submission and SMTPS after AUTH", "[smtp][protocol]") {
  FakeDriver d;
  {
    Protocol p(tls_policy(Listener::mx));  // even authenticated: the MX port stays strict
    CHECK(data_on(p, d, true).bare_lf == BareLf::reject);
  }
  {
    Protocol p(tls_policy(Listener::mx));
    CHECK(data_on(p, d, false).bare_lf == BareLf::reject);
  }
  for (const Listener l : {Listener::submission, Listener::smtps}) {
    CAPTURE(int(l));
    Protocol p(tls_policy(l));
    const Action a = data_on(p, d, true);
    CHECK(a.kind == Action::read_data);
    CHECK(a.bare_lf == BareLf::normalise);
    // The answer at the end is the same either way: a bare CR is still refused.
    play(p, d, {"DATA-END bare", "S: 550 5.5.2"});
    Policy off = tls_policy(l);
    off.submission_bare_lf_normalise = false;  // smtp.submission_bare_lf = reject
    Protocol q(off);
    CHECK(data_on(q, d, true).bare_lf == BareLf::reject);
  }
}

TEST_CASE("too many recipients is a temporary 452 4.5.3", "[smtp][protocol]") {
  Protocol p(mx_policy());
  FakeDriver d;
  d.addresses["b@example.org"] = RecipientLookup::local;
  d.addresses["c@example.org"] = RecipientLookup::local;
  d.addresses["e@example.org"] = RecipientLookup::local;
  play(p, d,
       {"C: EHLO x", "C: MAIL FROM:<a@b.example>", "C: RCPT TO:<alice@example.org>", "C: RCPT TO:<b@example.org>",
        "C: RCPT TO:<c@example.org>", "S: 250 2.1.5", "C: RCPT TO:<e@example.org>", "S: 452 4.5.3"});
}

TEST_CASE("submission needs AUTH, STARTTLS resets everything, AUTH PLAIN and LOGIN", "[smtp][protocol]") {
  Policy pol = mx_policy();
  pol.listener = Listener::submission;
  Protocol p(pol);
  FakeDriver d;
  play(p, d,
       {"C: EHLO x", "C: MAIL FROM:<alice@example.org>", "S: 530 5.7.0 Must issue a STARTTLS", "C: STARTTLS",
        "S: 220 2.0.0", "TLS", "C: MAIL FROM:<alice@example.org>", "S: 503 5.5.1", "C: EHLO x",
        "C: MAIL FROM:<alice@example.org>", "S: 530 5.7.0 Authentication required",
        // wrong password, then the right one with LOGIN
        "C: AUTH PLAIN AGFsaWNlAHdyb25n", "S: 535 5.7.8", "C: AUTH LOGIN", "S: 334 VXNlcm5hbWU6",
        "C: YWxpY2U=", "S: 334 UGFzc3dvcmQ6", "C: c2VjcmV0", "S: 235 2.7.0", "C: AUTH PLAIN x",
        "S: 503 5.5.1", "C: MAIL FROM:<other@example.org>", "S: 553 5.7.1",
        "C: MAIL FROM:<alice@example.org>", "S: 250 2.1.0", "C: RCPT TO:<anyone@far.example>", "S: 550 5.7.1",
        "C: STARTTLS", "S: 503 5.5.1"});
  CHECK(p.tls_active());
  CHECK(p.authenticated_user() == "alice");
  CHECK(p.with_protocol() == "ESMTPSA");
}

TEST_CASE("AUTH PLAIN without an initial response, and cancellation", "[smtp][protocol]") {
  Policy pol = mx_policy();
  pol.tls_active = true;
  Protocol p(pol);
  FakeDriver d;
  std::string creds = base64_encode(std::string("\0alice\0secret", 13));
  play(p, d,
       {"C: EHLO x", "C: AUTH PLAIN", "S: 334 ", "C: *", "S: 501 5.0.0", "C: AUTH PLAIN", "C: !!!notbase64",
        "S: 501 5.5.2", "C: AUTH CRAM-MD5", "S: 504 5.5.4", "C: AUTH PLAIN", "C: " + creds, "S: 235 2.7.0"});
}

TEST_CASE("the error budget ends the session with 421", "[smtp][protocol]") {
  Policy pol = mx_policy();
  pol.max_errors = 3;
  Protocol p(pol);
  FakeDriver d;
  play(p, d, {"C: FOO", "S: 500 5.5.2", "C: BAR", "S: 500 5.5.2", "C: BAZ", "S: 421 4.7.0", "CLOSE"});
}

TEST_CASE("timeouts and shutdown have their own 421 replies", "[smtp][protocol]") {
  Protocol p(mx_policy());
  CHECK(first_line(p.timeout_reply()).rfind("421 4.4.2 ", 0) == 0);
  CHECK(first_line(p.shutdown_reply()).rfind("421 4.3.2 ", 0) == 0);
}

// ---------------------------------------------------------------- the check step
//
// Each gate of the verb table, with the whole reply it sends and whether it counts
// toward the error budget.

namespace {
// Sends `line`, runs the side effects, returns the whole rendered reply.
std::string say(Protocol& p, FakeDriver& d, std::string_view line) {
  return d.settle(p, p.on_line(line)).reply.render();
}

struct Exchange {
  const char* line;
  const char* reply;  // the whole rendered reply
  unsigned errors;    // p.errors() afterwards
};

void exchanges(Protocol& p, FakeDriver& d, const std::vector<Exchange>& script) {
  for (const auto& e : script) {
    INFO(e.line);
    CHECK(say(p, d, e.line) == e.reply);
    CHECK(p.errors() == e.errors);
  }
}

const std::string kAlicePlain = "AUTH PLAIN " + base64_encode(std::string("\0alice\0secret", 13));
}  // namespace

TEST_CASE("before EHLO/HELO: MAIL and AUTH are refused, the rest is allowed", "[smtp][protocol][check]") {
  Protocol p(mx_policy());
  FakeDriver d;
  exchanges(p, d,
            {
                {"MAIL FROM:<a@b.example>", "503 5.5.1 Error: send EHLO or HELO first\r\n", 1},
                {"AUTH PLAIN", "503 5.5.1 Error: send EHLO first\r\n", 2},
                {"RCPT TO:<alice@example.org>", "503 5.5.1 Error: need MAIL command\r\n", 3},
                {"DATA", "503 5.5.1 Error: need MAIL command\r\n", 4},
                {"RSET", "250 2.0.0 Ok\r\n", 4},
                {"NOOP", "250 2.0.0 Ok\r\n", 4},
                {"VRFY alice", "252 2.5.0 Cannot VRFY user, but will accept message and attempt delivery\r\n", 4},
                {"EXPN list", "502 5.5.1 Error: EXPN is not available\r\n", 4},
                {"BDAT 1 LAST", "502 5.5.1 Error: BDAT is not offered (no CHUNKING); use DATA\r\n", 5},
                {"HELP", "214 2.0.0 Commands: EHLO HELO MAIL RCPT DATA RSET NOOP QUIT VRFY STARTTLS AUTH HELP\r\n", 5},
                // A syntax error is found before the gates.
                {"MAIL FROM:a@b.example", "501 5.5.4 Syntax: MAIL FROM:<address> [parameters]\r\n", 6},
            });
  CHECK(std::string(p.state_name()) == "connected");
  // STARTTLS needs no greeting.
  Action a = p.on_line("STARTTLS");
  CHECK(a.kind == Action::start_tls);
  CHECK(a.reply.render() == "220 2.0.0 Ready to start TLS\r\n");
}

TEST_CASE("AUTH needs EHLO, not HELO", "[smtp][protocol][check]") {
  Policy pol = mx_policy();
  pol.tls_active = true;
  Protocol p(pol);
  FakeDriver d;
  exchanges(p, d,
            {
                {"HELO x", "250 mail.example.org\r\n", 0},
                {kAlicePlain.c_str(), "503 5.5.1 Error: send EHLO first\r\n", 1},
                {"MAIL FROM:<a@b.example>", "250 2.1.0 Ok\r\n", 1},
                {"EHLO x", "250-mail.example.org\r\n250-PIPELINING\r\n250-SIZE 26214400\r\n250-8BITMIME\r\n"
                           "250-ENHANCEDSTATUSCODES\r\n250-SMTPUTF8\r\n250 AUTH PLAIN LOGIN\r\n", 1},
                {kAlicePlain.c_str(), "235 2.7.0 Authentication successful\r\n", 1},
            });
}

TEST_CASE("inside a mail transaction: MAIL and AUTH are refused, EHLO and RSET end it", "[smtp][protocol][check]") {
  Policy pol = mx_policy();
  pol.tls_active = true;
  Protocol p(pol);
  FakeDriver d;
  exchanges(p, d,
            {
                {"EHLO x", "250-mail.example.org\r\n250-PIPELINING\r\n250-SIZE 26214400\r\n250-8BITMIME\r\n"
                           "250-ENHANCEDSTATUSCODES\r\n250-SMTPUTF8\r\n250 AUTH PLAIN LOGIN\r\n", 0},
                {"MAIL FROM:<a@b.example>", "250 2.1.0 Ok\r\n", 0},
                {"MAIL FROM:<a@b.example>", "503 5.5.1 Error: nested MAIL command\r\n", 1},
                {kAlicePlain.c_str(), "503 5.5.1 Error: AUTH is not allowed during a mail transaction\r\n", 2},
                {"VRFY alice", "252 2.5.0 Cannot VRFY user, but will accept message and attempt delivery\r\n", 2},
                {"NOOP", "250 2.0.0 Ok\r\n", 2},
                {"HELP", "214 2.0.0 Commands: EHLO HELO MAIL RCPT DATA RSET NOOP QUIT VRFY STARTTLS AUTH HELP\r\n", 2},
                {"RCPT TO:<alice@example.org>", "250 2.1.5 Ok\r\n", 2},
                {"EHLO y", "250-mail.example.org\r\n250-PIPELINING\r\n250-SIZE 26214400\r\n250-8BITMIME\r\n"
                           "250-ENHANCEDSTATUSCODES\r\n250-SMTPUTF8\r\n250 AUTH PLAIN LOGIN\r\n", 2},
                {"RCPT TO:<alice@example.org>", "503 5.5.1 Error: need MAIL command\r\n", 3},
                {"MAIL FROM:<a@b.example>", "250 2.1.0 Ok\r\n", 3},
                {"RSET", "250 2.0.0 Ok\r\n", 3},
                {"DATA", "503 5.5.1 Error: need MAIL command\r\n", 4},
            });
  CHECK(p.helo() == "y");
}

TEST_CASE("STARTTLS inside a mail transaction starts TLS and forgets the transaction", "[smtp][protocol][check]") {
  Protocol p(mx_policy());
  FakeDriver d;
  play(p, d, {"C: EHLO x", "C: MAIL FROM:<a@b.example>", "S: 250 2.1.0", "C: STARTTLS", "S: 220 2.0.0", "TLS"});
  CHECK(p.transaction().sender.mailbox.local.empty());
  CHECK(std::string(p.state_name()) == "connected");
  exchanges(p, d, {{"RCPT TO:<alice@example.org>", "503 5.5.1 Error: need MAIL command\r\n", 1},
                   {"STARTTLS", "503 5.5.1 Error: TLS already active\r\n", 2}});
}

TEST_CASE("STARTTLS and AUTH where they are not available", "[smtp][protocol][check]") {
  Policy pol = mx_policy();
  pol.tls_available = false;
  Protocol p(pol);
  FakeDriver d;
  exchanges(p, d,
            {
                {"EHLO x", "250-mail.example.org\r\n250-PIPELINING\r\n250-SIZE 26214400\r\n250-8BITMIME\r\n"
                           "250-ENHANCEDSTATUSCODES\r\n250 SMTPUTF8\r\n", 0},
                {"STARTTLS", "454 4.7.0 TLS not available\r\n", 1},
                {"AUTH PLAIN", "503 5.5.1 Error: authentication is not available\r\n", 2},
            });
}

TEST_CASE("on submission before AUTH only MAIL asks for it, and once authenticated AUTH is refused", "[smtp][protocol][check]") {
  Policy pol = mx_policy();
  pol.listener = Listener::submission;
  pol.tls_active = true;
  Protocol p(pol);
  FakeDriver d;
  exchanges(p, d,
            {
                {"EHLO x", "250-mail.example.org\r\n250-PIPELINING\r\n250-SIZE 26214400\r\n250-8BITMIME\r\n"
                           "250-ENHANCEDSTATUSCODES\r\n250-SMTPUTF8\r\n250 AUTH PLAIN LOGIN\r\n", 0},
                {"RCPT TO:<alice@example.org>", "503 5.5.1 Error: need MAIL command\r\n", 1},
                {"DATA", "503 5.5.1 Error: need MAIL command\r\n", 2},
                {"MAIL FROM:<alice@example.org>", "530 5.7.0 Authentication required\r\n", 3},
                {"RSET", "250 2.0.0 Ok\r\n", 3},
                {"NOOP", "250 2.0.0 Ok\r\n", 3},
                {"VRFY alice", "252 2.5.0 Cannot VRFY user, but will accept message and attempt delivery\r\n", 3},
                {"EXPN list", "502 5.5.1 Error: EXPN is not available\r\n", 3},
                {"HELP", "214 2.0.0 Commands: EHLO HELO MAIL RCPT DATA RSET NOOP QUIT VRFY STARTTLS AUTH HELP\r\n", 3},
                {kAlicePlain.c_str(), "235 2.7.0 Authentication successful\r\n", 3},
                // EHLO no longer offers AUTH, and AUTH is refused, in a transaction too.
                {"EHLO x", "250-mail.example.org\r\n250-PIPELINING\r\n250-SIZE 26214400\r\n250-8BITMIME\r\n"
                           "250-ENHANCEDSTATUSCODES\r\n250 SMTPUTF8\r\n", 3},
                {kAlicePlain.c_str(), "503 5.5.1 Error: already authenticated\r\n", 4},
                {"MAIL FROM:<alice@example.org>", "250 2.1.0 Ok\r\n", 4},
                {kAlicePlain.c_str(), "503 5.5.1 Error: already authenticated\r\n", 5},
            });
}

TEST_CASE("on submission without TLS, MAIL asks for STARTTLS first, and AUTH for encryption",
          "[smtp][protocol][check]") {
  Policy pol = mx_policy();
  pol.listener = Listener::submission;
  Protocol p(pol);
  FakeDriver d;
  exchanges(p, d,
            {
                {"HELO x", "250 mail.example.org\r\n", 0},
                {"MAIL FROM:<alice@example.org>", "530 5.7.0 Must issue a STARTTLS command first\r\n", 1},
                {"EHLO x", "250-mail.example.org\r\n250-PIPELINING\r\n250-SIZE 26214400\r\n250-8BITMIME\r\n"
                           "250-ENHANCEDSTATUSCODES\r\n250-SMTPUTF8\r\n250 STARTTLS\r\n", 1},
                {"AUTH PLAIN", "538 5.7.11 Encryption required for requested authentication mechanism\r\n", 2},
            });
  // Without a certificate there is nothing to ask for but AUTH.
  pol.tls_available = false;
  Protocol q(pol);
  exchanges(q, d, {{"EHLO x", "250-mail.example.org\r\n250-PIPELINING\r\n250-SIZE 26214400\r\n250-8BITMIME\r\n"
                              "250-ENHANCEDSTATUSCODES\r\n250 SMTPUTF8\r\n", 0},
                   {"MAIL FROM:<alice@example.org>", "530 5.7.0 Authentication required\r\n", 1}});
}

TEST_CASE("HELP takes an optional topic and answers the same list", "[smtp][protocol][check]") {
  Protocol p(mx_policy());
  FakeDriver d;
  exchanges(p, d, {{"help mail", "214 2.0.0 Commands: EHLO HELO MAIL RCPT DATA RSET NOOP QUIT VRFY STARTTLS AUTH HELP\r\n", 0},
                   {"QUIT", "221 2.0.0 mail.example.org closing connection\r\n", 0}});
}

TEST_CASE("BDAT counts toward the error budget, EXPN does not", "[smtp][protocol][check]") {
  Policy pol = mx_policy();
  pol.max_errors = 2;
  Protocol p(pol);
  FakeDriver d;
  for (int i = 0; i < 5; ++i) CHECK(say(p, d, "EXPN list") == "502 5.5.1 Error: EXPN is not available\r\n");
  CHECK(p.errors() == 0);
  CHECK(say(p, d, "BDAT 10") == "502 5.5.1 Error: BDAT is not offered (no CHUNKING); use DATA\r\n");
  Action a = p.on_line("BDAT 10 LAST");
  CHECK(a.kind == Action::close);
  CHECK(a.reply.render() == "421 4.7.0 mail.example.org Error: too many errors\r\n");
  CHECK(std::string(p.state_name()) == "closed");
}

TEST_CASE("a close says why: QUIT or too many errors", "[smtp][protocol]") {
  Policy pol = mx_policy();
  pol.max_errors = 2;
  {
    Protocol p(pol);
    Action a = p.on_line("NOOP");
    CHECK(a.kind == Action::send);
    CHECK(a.close_reason == CloseReason::none);
    a = p.on_line("QUIT");
    CHECK(a.kind == Action::close);
    CHECK(a.close_reason == CloseReason::quit);
    CHECK(std::string(close_reason_name(a.close_reason)) == "quit");
  }
  {
    Protocol p(pol);
    CHECK(p.on_line("FOO").close_reason == CloseReason::none);
    Action a = p.on_line_too_long();
    CHECK(a.kind == Action::close);
    CHECK(a.reply.render() == "421 4.7.0 mail.example.org Error: too many errors\r\n");
    CHECK(a.close_reason == CloseReason::too_many_errors);
    CHECK(std::string(close_reason_name(a.close_reason)) == "too-many-errors");
  }
  {
    // The error budget can run out in a side effect's answer too.
    Protocol p(pol);
    FakeDriver d;
    play(p, d, {"C: EHLO x", "C: MAIL FROM:<a@b.example>", "C: RCPT TO:<nobody@example.org>", "S: 550 5.1.1"});
    Action a = d.settle(p, p.on_line("RCPT TO:<off@example.org>"));
    CHECK(a.kind == Action::close);
    CHECK(a.close_reason == CloseReason::too_many_errors);
  }
}
