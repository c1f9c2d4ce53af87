// The POP3 state machine, driven by transcripts: "C: " lines go in, the reply's first
// line must start with the "S: " text ("S= " compares the whole reply). Side effects
// are answered by a fake driver holding one mailbox, which is fine for pure code.
#include <catch2/catch.hpp>

#include <map>
#include <string>
#include <vector>

#include "common/base64.hpp"
#include "server/mail/dot_stuffer.hpp"
#include "server/pop3/protocol.hpp"

using namespace shicks;
using namespace shicks::pop3;

namespace {

struct FakeDriver {
  std::map<std::string, std::string> passwords = {{"alice", "secret pass"}};
  std::vector<std::string> bodies = {
      "Subject: one\r\n\r\nHello\r\n",
      "Subject: two\r\nX: y\r\n\r\n.hidden\r\nline 2\r\nline 3\r\n",
      "Subject: three\r\n\r\nno final newline",
  };
  bool lease_taken_elsewhere = false;
  bool db_down = false;
  bool banned = false;
  bool update_fails = false;
  bool holding_lease = false;
  std::vector<std::uint64_t> removed;
  int tls_starts = 0;

  std::vector<MaildropEntry> listing() const {
    std::vector<MaildropEntry> out;
    for (std::size_t i = 0; i < bodies.size(); ++i)
      out.push_back({100 + i, bodies[i].size(), "uid-" + std::to_string(100 + i)});
    return out;
  }

  // Runs the action's side effects until there is something to write; a retrieve
  // appends the streamed body (7-octet chunks) to the reply.
  Action settle(Protocol& p, Action a) {
    for (;;) {
      switch (a.kind) {
        case Action::authenticate: {
          Protocol::AuthOutcome o = Protocol::AuthOutcome::bad_credentials;
          auto it = passwords.find(a.credentials.username);
          if (banned) o = Protocol::AuthOutcome::banned;
          else if (db_down) o = Protocol::AuthOutcome::temp_failure;
          else if (it != passwords.end() && it->second == a.credentials.password) o = Protocol::AuthOutcome::ok;
          a = p.on_auth_result(o);
          continue;
        }
        case Action::load_maildrop: {
          Protocol::MaildropLoad load;
          if (lease_taken_elsewhere) load.kind = Protocol::MaildropLoad::in_use;
          else load.messages = listing();
          a = p.on_maildrop_loaded(load);
          holding_lease = p.in_transaction();
          continue;
        }
        case Action::retrieve: {
          if (db_down) {
            a = p.on_retrieve_failed();
            continue;
          }
          const std::string& body = bodies.at(a.message);
          REQUIRE(a.message_id == 100 + a.message);
          mail::DotStuffer s(a.top_lines);
          for (std::size_t i = 0; i < body.size() && !s.done(); i += 7) s.feed(body.substr(i, 7), a.reply);
          s.finish(a.reply);
          a.kind = Action::send;
          return a;
        }
        case Action::update:
          if (!update_fails) removed = a.deleted_ids;
          holding_lease = false;
          a = p.on_update_done(!update_fails);
          continue;
        case Action::start_tls:
          ++tls_starts;
          return a;
        case Action::close:
          holding_lease = false;
          return a;
        case Action::send:
          return a;
      }
    }
  }
};

Policy plain_policy() {
  Policy p;
  p.hostname = "mail.example.org";
  p.tls_available = true;
  p.max_errors = 20;
  return p;
}

Policy tls_policy() {
  Policy p = plain_policy();
  p.implicit_tls = true;
  return p;
}

std::string first_line(const std::string& reply) { return reply.substr(0, reply.find("\r\n")); }

// Plays "C: line" / "S: prefix" / "S= whole reply" / "TLS" / "CLOSE" steps.
Action play(Protocol& p, FakeDriver& d, const std::vector<std::string>& script) {
  Action last;
  for (const auto& step : script) {
    INFO(step);
    if (step.rfind("C: ", 0) == 0) {
      last = d.settle(p, p.on_line(step.substr(3)));
    } else if (step == "TLS") {
      REQUIRE(last.kind == Action::start_tls);
      p.on_tls_started();
    } else if (step.rfind("S: ", 0) == 0) {
      INFO("got: " << last.reply);
      CHECK(first_line(last.reply).rfind(step.substr(3), 0) == 0);
    } else if (step.rfind("S= ", 0) == 0) {
      CHECK(last.reply == step.substr(3));
    } else if (step == "CLOSE") {
      CHECK(last.kind == Action::close);
    } else if (step == "OPEN") {
      CHECK(last.kind != Action::close);
    } else {
      FAIL("bad step " << step);
    }
  }
  return last;
}

std::string plain_b64(const std::string& user, const std::string& pass) {
  return base64_encode(std::string("\0", 1) + user + std::string("\0", 1) + pass);
}

const std::vector<std::string> kLogin = {"C: USER alice", "S: +OK", "C: PASS secret pass", "S: +OK Logged in"};

}  // namespace

TEST_CASE("pop3: a whole session with USER/PASS under TLS", "[pop3][protocol]") {
  Protocol p(tls_policy());
  FakeDriver d;
  CHECK(p.greeting() == "+OK Shicks POP3 ready\r\n");
  CHECK(play(p, d, kLogin).reply == "+OK Logged in, maildrop has 3 messages (104 octets)\r\n");
  CHECK(p.in_transaction());
  CHECK(p.user() == "alice");
  CHECK(d.holding_lease);
  play(p, d,
       {"C: STAT", "S= +OK 3 104\r\n", "C: LIST",
        "S= +OK 3 messages (104 octets)\r\n1 23\r\n2 47\r\n3 34\r\n.\r\n", "C: UIDL",
        "S= +OK\r\n1 uid-100\r\n2 uid-101\r\n3 uid-102\r\n.\r\n", "C: RETR 1",
        "S= +OK 23 octets\r\nSubject: one\r\n\r\nHello\r\n.\r\n", "C: DELE 1", "S= +OK Message 1 deleted\r\n",
        "C: QUIT", "S= +OK Shicks POP3 server signing off (2 messages left)\r\n", "CLOSE"});
  CHECK(d.removed == std::vector<std::uint64_t>{100});
  CHECK(p.state() == Protocol::State::closed);
}

TEST_CASE("pop3: the snapshot commands", "[pop3][protocol]") {
  Protocol p(tls_policy());
  FakeDriver d;
  play(p, d, kLogin);
  play(p, d,
       {"C: LIST 2", "S= +OK 2 47\r\n", "C: UIDL 3", "S= +OK 3 uid-102\r\n", "C: list 4", "S= -ERR No such message\r\n",
        "C: LIST 0", "S: -ERR No such message", "C: LIST x", "S: -ERR Syntax error", "C: LIST 1 2",
        "S: -ERR Syntax error", "C: LIST -1", "S: -ERR Syntax error", "C: LIST 99999999999999999999999",
        "S: -ERR Syntax error", "C: NOOP", "S= +OK\r\n", "C: NOOP x", "S: -ERR Syntax error", "C: STAT 1",
        "S: -ERR Syntax error",
        // DELE only marks; deleted messages vanish from STAT/LIST/UIDL and refuse access.
        "C: DELE 2", "S= +OK Message 2 deleted\r\n", "C: DELE 2", "S= -ERR Message 2 is deleted\r\n", "C: STAT",
        "S= +OK 2 57\r\n", "C: LIST", "S= +OK 2 messages (57 octets)\r\n1 23\r\n3 34\r\n.\r\n", "C: UIDL",
        "S= +OK\r\n1 uid-100\r\n3 uid-102\r\n.\r\n", "C: LIST 2", "S= -ERR Message 2 is deleted\r\n", "C: UIDL 2",
        "S: -ERR Message 2 is deleted", "C: RETR 2", "S: -ERR Message 2 is deleted", "C: TOP 2 0",
        "S: -ERR Message 2 is deleted",
        // RSET unmarks.
        "C: RSET", "S= +OK Maildrop has 3 messages (104 octets)\r\n", "C: STAT", "S= +OK 3 104\r\n", "C: RSET x",
        "S: -ERR Syntax error", "C: QUIT", "S= +OK Shicks POP3 server signing off (3 messages left)\r\n", "CLOSE"});
  CHECK(d.removed.empty());
}

TEST_CASE("pop3: RETR and TOP stream dot-stuffed bodies", "[pop3][protocol]") {
  Protocol p(tls_policy());
  FakeDriver d;
  play(p, d, kLogin);
  play(p, d,
       {"C: RETR 2", "S= +OK 47 octets\r\nSubject: two\r\nX: y\r\n\r\n..hidden\r\nline 2\r\nline 3\r\n.\r\n",
        "C: RETR 3", "S= +OK 34 octets\r\nSubject: three\r\n\r\nno final newline\r\n.\r\n", "C: TOP 2 0",
        "S= +OK Top of message follows\r\nSubject: two\r\nX: y\r\n\r\n.\r\n", "C: TOP 2 2",
        "S= +OK Top of message follows\r\nSubject: two\r\nX: y\r\n\r\n..hidden\r\nline 2\r\n.\r\n",
        "C: top 2 99999999999999999999", "S: -ERR Syntax error", "C: TOP 2 18446744073709551615",
        "S= +OK Top of message follows\r\nSubject: two\r\nX: y\r\n\r\n..hidden\r\nline 2\r\nline 3\r\n.\r\n",
        "C: TOP 2", "S: -ERR Syntax error", "C: TOP 2 x", "S: -ERR Syntax error", "C: TOP 2 1 1",
        "S: -ERR Syntax error", "C: RETR", "S: -ERR Syntax error", "C: RETR 4", "S: -ERR No such message"});
  Action a = p.on_line("TOP 1 3");
  CHECK(a.kind == Action::retrieve);
  CHECK(a.message == 0);
  CHECK(a.message_id == 100);
  CHECK(a.top_lines == 3);
  a = p.on_line("RETR 3");
  CHECK(a.kind == Action::retrieve);
  CHECK(a.top_lines == -1);
  d.db_down = true;
  play(p, d, {"C: RETR 1", "S= -ERR [SYS/TEMP] Cannot read the message, try again later\r\n"});
  CHECK(p.errors() == 6);  // the store's trouble is not the client's error
}

TEST_CASE("pop3: QUIT in AUTHORIZATION closes without an update", "[pop3][protocol]") {
  Protocol p(plain_policy());
  FakeDriver d;
  Action a = play(p, d, {"C: quit", "S= +OK Shicks POP3 server signing off\r\n", "CLOSE"});
  CHECK(a.kind == Action::close);
  CHECK(p.state() == Protocol::State::closed);
}

TEST_CASE("pop3: a failed update says so and closes", "[pop3][protocol]") {
  Protocol p(tls_policy());
  FakeDriver d;
  d.update_fails = true;
  play(p, d, kLogin);
  Action a = p.on_line("DELE 1");
  a = p.on_line("DELE 3");
  a = p.on_line("QUIT");
  REQUIRE(a.kind == Action::update);
  CHECK(a.deleted_ids == std::vector<std::uint64_t>{100, 102});
  CHECK(p.state() == Protocol::State::update);
  a = p.on_update_done(false);
  CHECK(a.kind == Action::close);
  CHECK(a.reply == "-ERR [SYS/TEMP] Deleted messages not removed, try again later\r\n");
}

TEST_CASE("pop3: an empty maildrop", "[pop3][protocol]") {
  Protocol p(tls_policy());
  FakeDriver d;
  d.bodies.clear();
  play(p, d, kLogin);
  play(p, d,
       {"C: STAT", "S= +OK 0 0\r\n", "C: LIST", "S= +OK 0 messages (0 octets)\r\n.\r\n", "C: UIDL", "S= +OK\r\n.\r\n",
        "C: RETR 1", "S: -ERR No such message", "C: QUIT",
        "S= +OK Shicks POP3 server signing off (maildrop empty)\r\n"});
}

TEST_CASE("pop3: one message is a message, one octet an octet", "[pop3][protocol]") {
  Protocol p(tls_policy());
  FakeDriver d;
  d.bodies = {"x"};
  CHECK(play(p, d, kLogin).reply == "+OK Logged in, maildrop has 1 message (1 octet)\r\n");
  play(p, d,
       {"C: LIST", "S= +OK 1 message (1 octet)\r\n1 1\r\n.\r\n", "C: RETR 1", "S= +OK 1 octet\r\nx\r\n.\r\n",
        "C: RSET", "S= +OK Maildrop has 1 message (1 octet)\r\n", "C: QUIT",
        "S= +OK Shicks POP3 server signing off (1 message left)\r\n", "CLOSE"});

  Protocol q(tls_policy());
  FakeDriver e;
  play(q, e, kLogin);
  play(q, e,
       {"C: DELE 1", "S: +OK", "C: DELE 2", "S: +OK", "C: LIST", "S= +OK 1 message (34 octets)\r\n3 34\r\n.\r\n",
        "C: QUIT", "S= +OK Shicks POP3 server signing off (1 message left)\r\n", "CLOSE"});
}

TEST_CASE("pop3: AUTHORIZATION refuses TRANSACTION commands and vice versa", "[pop3][protocol]") {
  Protocol p(tls_policy());
  FakeDriver d;
  for (const char* c : {"STAT", "LIST", "UIDL", "RETR 1", "DELE 1", "TOP 1 1", "RSET", "NOOP"})
    play(p, d, {std::string("C: ") + c, "S= -ERR Log in first\r\n"});
  play(p, d, {"C: PASS secret pass", "S= -ERR Send USER first\r\n", "C: APOP alice 0123456789abcdef",
              "S: -ERR APOP is not offered", "C: LAST", "S= -ERR Unknown command\r\n"});
  play(p, d, kLogin);
  play(p, d,
       {"C: USER alice", "S= -ERR Already logged in\r\n", "C: PASS x", "S: -ERR Already logged in", "C: AUTH PLAIN",
        "S: -ERR Already logged in", "C: STLS", "S: -ERR Already logged in", "C: CAPA", "S: +OK"});
  CHECK(p.in_transaction());
}

TEST_CASE("pop3: USER/PASS sequencing and bad credentials", "[pop3][protocol]") {
  Protocol p(tls_policy());
  FakeDriver d;
  play(p, d,
       {"C: USER alice", "S= +OK Send PASS\r\n", "C: PASS wrong", "S= -ERR [AUTH] Authentication failed\r\n",
        // PASS only right after USER.
        "C: PASS secret pass", "S: -ERR Send USER first", "C: USER alice", "S: +OK", "C: NOOP", "S: -ERR",
        "C: PASS secret pass", "S: -ERR Send USER first", "C: USER", "S: -ERR Syntax error", "C: USER a b",
        "S: -ERR Syntax error", "C: USER alice", "C: PASS", "S: -ERR Syntax error", "C: USER alice",
        "C: PASS ", "S: -ERR Syntax error: missing password",
        // A password keeps its spaces, leading ones included.
        "C: USER alice", "C: PASS  secret pass", "S: -ERR [AUTH]", "C: USER bob", "C: PASS secret pass",
        "S: -ERR [AUTH] Authentication failed", "C: user alice", "C: pass secret pass", "S: +OK Logged in"});
  CHECK(p.user() == "alice");
}

TEST_CASE("pop3: throttling, database trouble and a held lease", "[pop3][protocol]") {
  FakeDriver d;
  {
    Protocol p(tls_policy());
    d.banned = true;
    play(p, d, {"C: USER alice", "C: PASS secret pass", "S= -ERR [SYS/TEMP] Too many failed logins, try again later\r\n"});
    CHECK(p.errors() == 1);
    d.banned = false;
    d.db_down = true;
    play(p, d, {"C: USER alice", "C: PASS secret pass",
                "S= -ERR [SYS/TEMP] Temporary authentication failure, try again later\r\n"});
    CHECK(p.errors() == 1);
    d.db_down = false;
    d.lease_taken_elsewhere = true;
    play(p, d, {"C: USER alice", "C: PASS secret pass", "S= -ERR [IN-USE] Mailbox is locked by another POP3 session\r\n"});
    CHECK(!p.in_transaction());
    CHECK(p.user().empty());
    CHECK(!d.holding_lease);
    // RFC 1939 7: the client may try again once the other session has quit.
    d.lease_taken_elsewhere = false;
    play(p, d, kLogin);
    CHECK(d.holding_lease);
  }
  {
    Protocol p(tls_policy());
    play(p, d, {"C: USER alice", "C: PASS secret pass"});
    Protocol q(tls_policy());
    q.on_line("USER alice");
    REQUIRE(q.on_line("PASS secret pass").kind == Action::authenticate);
    REQUIRE(q.on_auth_result(Protocol::AuthOutcome::ok).kind == Action::load_maildrop);
    Protocol::MaildropLoad failed;
    failed.kind = Protocol::MaildropLoad::temp_failure;
    CHECK(q.on_maildrop_loaded(failed).reply == "-ERR [SYS/TEMP] Cannot open the mailbox, try again later\r\n");
    CHECK(q.state() == Protocol::State::authorization);
  }
}

TEST_CASE("pop3: a listing with bad UIDLs is refused with SYS/PERM", "[pop3][protocol]") {
  for (std::vector<std::string> uidls : {std::vector<std::string>{"a", "a"}, {""}, {"has space"}, {std::string(71, 'x')}}) {
    Protocol p(tls_policy());
    p.on_line("USER alice");
    p.on_line("PASS x");
    p.on_auth_result(Protocol::AuthOutcome::ok);
    Protocol::MaildropLoad load;
    for (auto& u : uidls) load.messages.push_back({1, 10, u});
    Action a = p.on_maildrop_loaded(load);
    CHECK(a.reply.rfind("-ERR [SYS/PERM] ", 0) == 0);
    CHECK(!p.in_transaction());
  }
}

TEST_CASE("pop3: plaintext login only under TLS or from an allowed loopback peer", "[pop3][protocol]") {
  FakeDriver d;
  const std::string refused = "-ERR [AUTH] Plaintext authentication disallowed without TLS\r\n";
  Protocol p(plain_policy());
  play(p, d,
       {"C: USER alice", "S= " + refused, "C: PASS secret pass", "S= " + refused,
        "C: AUTH PLAIN " + plain_b64("alice", "secret pass"), "S= " + refused, "C: AUTH PLAIN", "S= " + refused,
        "C: AUTH", "S= +OK\r\n.\r\n"});
  std::string capa = play(p, d, {"C: CAPA"}).reply;
  CHECK(capa.find("USER") == std::string::npos);
  CHECK(capa.find("SASL") == std::string::npos);
  CHECK(capa.find("STLS\r\n") != std::string::npos);

  Policy lo = plain_policy();
  lo.peer_loopback = true;
  Protocol q(lo);
  play(q, d, kLogin);
  lo.plaintext_auth_on_loopback = false;
  Protocol r(lo);
  play(r, d, {"C: USER alice", "S= " + refused});
}

TEST_CASE("pop3: CAPA", "[pop3][protocol]") {
  FakeDriver d;
  Protocol p(plain_policy());
  CHECK(play(p, d, {"C: CAPA"}).reply ==
        "+OK Capability list follows\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nPIPELINING\r\nAUTH-RESP-CODE\r\n"
        "STLS\r\nIMPLEMENTATION Shicks\r\n.\r\n");
  play(p, d, {"C: CAPA x", "S: -ERR Syntax error"});
  Protocol t(tls_policy());
  CHECK(play(t, d, {"C: capa"}).reply ==
        "+OK Capability list follows\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nPIPELINING\r\nAUTH-RESP-CODE\r\n"
        "USER\r\nSASL PLAIN\r\nIMPLEMENTATION Shicks\r\n.\r\n");
  // RFC 2449 5: what AUTHORIZATION offers is still announced after login.
  play(t, d, kLogin);
  CHECK(play(t, d, {"C: CAPA"}).reply.find("USER\r\nSASL PLAIN\r\n") != std::string::npos);
  // No certificate: no STLS.
  Policy none = plain_policy();
  none.tls_available = false;
  Protocol n(none);
  CHECK(play(n, d, {"C: CAPA"}).reply.find("STLS") == std::string::npos);
  play(n, d, {"C: STLS", "S= -ERR TLS not available\r\n"});
}

TEST_CASE("pop3: STLS starts over in a fresh AUTHORIZATION state", "[pop3][protocol]") {
  FakeDriver d;
  Protocol p(plain_policy());
  play(p, d,
       {"C: STLS x", "S: -ERR Syntax error", "C: stls", "S= +OK Begin TLS negotiation\r\n", "TLS", "C: CAPA",
        "S: +OK", "C: STLS", "S= -ERR Command not permitted when TLS active\r\n"});
  CHECK(d.tls_starts == 1);
  CHECK(p.tls_active());
  std::string capa = play(p, d, {"C: CAPA"}).reply;
  CHECK(capa.find("STLS") == std::string::npos);
  CHECK(capa.find("USER\r\n") != std::string::npos);
  play(p, d, kLogin);

  // A USER given before the handshake is forgotten.
  Policy lo = plain_policy();
  lo.peer_loopback = true;
  Protocol q(lo);
  play(q, d, {"C: USER alice", "S: +OK", "C: STLS", "TLS", "C: PASS secret pass", "S= -ERR Send USER first\r\n"});
  // POP3S: already encrypted.
  Protocol s(tls_policy());
  play(s, d, {"C: STLS", "S: -ERR Command not permitted when TLS active"});
}

TEST_CASE("pop3: AUTH PLAIN (RFC 5034)", "[pop3][protocol]") {
  FakeDriver d;
  SECTION("initial response") {
    Protocol p(tls_policy());
    play(p, d, {"C: AUTH PLAIN " + plain_b64("alice", "secret pass"), "S: +OK Logged in"});
    CHECK(p.user() == "alice");
  }
  SECTION("continuation") {
    Protocol p(tls_policy());
    play(p, d, {"C: auth plain", "S= + \r\n"});
    CHECK(p.awaiting_sasl_response());
    play(p, d, {"C: " + plain_b64("alice", "secret pass"), "S: +OK Logged in"});
    CHECK(!p.awaiting_sasl_response());
  }
  SECTION("cancel, bad data, bad credentials") {
    Protocol p(tls_policy());
    play(p, d,
         {"C: AUTH PLAIN", "C: *", "S= -ERR Authentication cancelled\r\n", "C: AUTH PLAIN", "C: !!!",
          "S= -ERR Invalid base64 data\r\n", "C: AUTH PLAIN =", "S: -ERR Malformed", "C: AUTH PLAIN",
          "C: STAT", "S: -ERR Malformed", "C: AUTH PLAIN", "C: NOOP?", "S: -ERR Invalid base64", "C: AUTH PLAIN " + plain_b64("alice", "nope"),
          "S= -ERR [AUTH] Authentication failed\r\n", "C: AUTH PLAIN " + base64_encode(std::string("bob\0alice\0secret pass", 21)),
          "S= -ERR [AUTH] Authorization identity not supported\r\n", "C: AUTH LOGIN",
          "S= -ERR Unsupported authentication mechanism\r\n", "C: AUTH PLAIN a b", "S: -ERR Syntax error",
          "C: AUTH", "S= +OK\r\nPLAIN\r\n.\r\n"});
    CHECK(p.state() == Protocol::State::authorization);
  }
  SECTION("a too-long response line ends the exchange") {
    Protocol p(tls_policy());
    play(p, d, {"C: AUTH PLAIN"});
    CHECK(p.on_line_too_long().reply == "-ERR Line too long\r\n");
    CHECK(!p.awaiting_sasl_response());
  }
}

TEST_CASE("pop3: line-level junk and the error budget", "[pop3][protocol]") {
  FakeDriver d;
  Policy pol = tls_policy();
  pol.max_errors = 4;
  Protocol p(pol);
  play(p, d,
       {"C: ", "S= -ERR Empty command\r\n", std::string("C: STAT\0", 8), "S= -ERR Invalid characters in command\r\n",
        "C: NOOP\x1b[1m", "S= -ERR Invalid characters in command\r\n", "OPEN"});
  CHECK(p.errors() == 3);
  play(p, d, {"C: XYZZY", "S= -ERR Too many errors, closing connection\r\n", "CLOSE"});
  CHECK(p.state() == Protocol::State::closed);
  CHECK(p.on_line("NOOP").kind == Action::close);
}

TEST_CASE("pop3: an error budget in TRANSACTION closes without deleting", "[pop3][protocol]") {
  FakeDriver d;
  Policy pol = tls_policy();
  pol.max_errors = 2;
  Protocol p(pol);
  play(p, d, kLogin);
  play(p, d, {"C: DELE 1", "C: DELE 9", "OPEN", "C: DELE 9", "CLOSE"});
  CHECK(d.removed.empty());
  CHECK(!d.holding_lease);
}

TEST_CASE("pop3: trailing blanks are tolerated, keywords are case-insensitive", "[pop3][protocol]") {
  FakeDriver d;
  Protocol p(tls_policy());
  play(p, d, kLogin);
  play(p, d, {"C: StAt ", "S= +OK 3 104\r\n", "C: list  2 ", "S= +OK 2 47\r\n", "C: uIdL 1", "S= +OK 1 uid-100\r\n"});
}

TEST_CASE("pop3: the shutdown and autologout replies", "[pop3][protocol]") {
  Protocol p(plain_policy());
  CHECK(p.shutdown_reply() == "-ERR [SYS/TEMP] Server shutting down\r\n");
  CHECK(p.timeout_reply().rfind("-ERR ", 0) == 0);
}
