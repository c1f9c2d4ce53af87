#include "server/pop3/protocol.hpp"

#include <fmt/core.h>

#include <algorithm>
#include <limits>
#include <set>
#include <utility>

#include "common/strings.hpp"

namespace shicks::pop3 {

namespace {
std::string ok(std::string_view text) { return text.empty() ? "+OK\r\n" : fmt::format("+OK {}\r\n", text); }
std::string err(std::string_view text) { return fmt::format("-ERR {}\r\n", text); }

// "1 message", "2 messages"; "1 octet", "2 octets".
std::string count(std::uint64_t n, std::string_view one, std::string_view many) {
  return fmt::format("{} {}", n, n == 1 ? one : many);
}
std::string messages(std::uint64_t n) { return count(n, "message", "messages"); }
std::string octets(std::uint64_t n) { return count(n, "octet", "octets"); }

// Accepted number of arguments, for the verbs whose arguments are all tokens.
struct Arity {
  std::size_t min, max;
};
Arity arity(Verb v) {
  switch (v) {
    case Verb::list:
    case Verb::uidl: return {0, 1};
    case Verb::retr:
    case Verb::dele:
    case Verb::user: return {1, 1};
    case Verb::top: return {2, 2};
    case Verb::auth: return {0, 2};
    case Verb::pass: return {0, std::numeric_limits<std::size_t>::max()};  // takes `rest` verbatim
    default: return {0, 0};
  }
}

bool transaction_verb(Verb v) {
  switch (v) {
    case Verb::stat:
    case Verb::list:
    case Verb::retr:
    case Verb::dele:
    case Verb::noop:
    case Verb::rset:
    case Verb::top:
    case Verb::uidl: return true;
    default: return false;
  }
}

// RFC 1939 7: a unique-id is 1 to 70 characters in the range 0x21 to 0x7E.
bool valid_uidl(std::string_view u) {
  if (u.empty() || u.size() > 70) return false;
  for (char c : u)
    if (c < 0x21 || c > 0x7e) return false;
  return true;
}

const char* const kPlaintextRefused = "[AUTH] Plaintext authentication disallowed without TLS";
}  // namespace

Protocol::Protocol(Policy policy) : policy_(std::move(policy)), tls_(policy_.implicit_tls) {}

std::string Protocol::greeting() const {
  // No <timestamp> (RFC 1939 7): APOP is not offered, passwords are stored hashed.
  return ok("Shicks POP3 ready");
}

const char* Protocol::state_name() const {
  switch (state_) {
    case State::authorization: return "authorization";
    case State::transaction: return "transaction";
    case State::update: return "update";
    case State::closed: return "closed";
  }
  return "?";
}

std::string Protocol::shutdown_reply() const { return err("[SYS/TEMP] Server shutting down"); }

// RFC 1939 3: an autologout ends the session without entering the UPDATE state.
std::string Protocol::timeout_reply() const { return err("Autologout; idle for too long"); }

Action Protocol::send(std::string reply) {
  Action a;
  a.kind = Action::send;
  a.reply = std::move(reply);
  return a;
}

Action Protocol::close(std::string reply) {
  state_ = State::closed;
  Action a;
  a.kind = Action::close;
  a.reply = std::move(reply);
  return a;
}

Action Protocol::fail(std::string reply) {
  if (++errors_ >= policy_.max_errors) return close(err("Too many errors, closing connection"));
  return send(std::move(reply));
}

bool Protocol::plaintext_allowed() const {
  // design.md 8, RFC 2595 2.3: plaintext passwords only under TLS, or from loopback
  // when the admin allows it.
  return tls_ || (policy_.peer_loopback && policy_.plaintext_auth_on_loopback);
}

std::uint64_t Protocol::live_count() const {
  std::uint64_t n = 0;
  for (std::size_t i = 0; i < messages_.size(); ++i) n += deleted_[i] ? 0 : 1;
  return n;
}

std::uint64_t Protocol::live_octets() const {
  std::uint64_t n = 0;
  for (std::size_t i = 0; i < messages_.size(); ++i) n += deleted_[i] ? 0 : messages_[i].size;
  return n;
}

Action Protocol::on_line_too_long() {
  sasl_pending_ = false;
  user_given_ = false;
  return fail(err("Line too long"));
}

Action Protocol::on_line(std::string_view line) {
  if (state_ == State::closed || state_ == State::update) return close(err("Session is over"));
  if (sasl_pending_) return on_sasl_response(line);
  // RFC 1939 7: PASS only right after a successful USER.
  bool after_user = std::exchange(user_given_, false);
  auto cmd = parse_command(line);
  if (!cmd) return fail(err(cmd.error() == CommandError::empty ? "Empty command" : "Invalid characters in command"));
  // Check: is the command known, allowed in this state, with the right arguments?
  const Command& c = *cmd;
  if (c.verb == Verb::unknown) return fail(err("Unknown command"));
  if (c.verb == Verb::apop) return fail(err("APOP is not offered; use USER/PASS or AUTH PLAIN"));
  if (transaction_verb(c.verb) && state_ != State::transaction) return fail(err("Log in first"));
  bool authorization_only =
      c.verb == Verb::user || c.verb == Verb::pass || c.verb == Verb::auth || c.verb == Verb::stls;
  if (authorization_only && state_ != State::authorization) return fail(err("Already logged in"));
  Arity a = arity(c.verb);
  if (c.args.size() < a.min || c.args.size() > a.max) return fail(err("Syntax error: wrong number of arguments"));
  // Proceed.
  switch (c.verb) {
    case Verb::user: return on_user(c);
    case Verb::pass: return on_pass(c, after_user);
    case Verb::auth: return on_auth(c);
    case Verb::capa: return on_capa();
    case Verb::stls: return on_stls();
    case Verb::quit: return on_quit();
    case Verb::stat: return send(ok(fmt::format("{} {}", live_count(), live_octets())));
    case Verb::list: return on_list_or_uidl(c, false);
    case Verb::uidl: return on_list_or_uidl(c, true);
    case Verb::retr: return on_retr_or_top(c, false);
    case Verb::top: return on_retr_or_top(c, true);
    case Verb::dele: return on_dele(c);
    case Verb::noop: return send(ok(""));
    case Verb::rset: return on_rset();
    case Verb::apop:
    case Verb::unknown: break;
  }
  return fail(err("Unknown command"));
}

// ---------------------------------------------------------------- AUTHORIZATION

Action Protocol::on_user(const Command& c) {
  if (!plaintext_allowed()) return fail(err(kPlaintextRefused));
  // Whether the mailbox exists is not revealed (RFC 1939 7 allows either answer).
  user_ = c.args[0];
  user_given_ = true;
  return send(ok("Send PASS"));
}

Action Protocol::on_pass(const Command& c, bool after_user) {
  if (!plaintext_allowed()) return fail(err(kPlaintextRefused));
  if (!after_user) return fail(err("Send USER first"));
  if (c.rest.empty()) return fail(err("Syntax error: missing password"));
  auth::Credentials creds;
  creds.username = user_;
  creds.password = c.rest;  // RFC 1939 7: the password may contain spaces
  return authenticate(std::move(creds));
}

// RFC 5034: AUTH mechanism [initial-response]; "AUTH" alone lists the mechanisms
// (the RFC 1734-era convention clients still probe with).
Action Protocol::on_auth(const Command& c) {
  if (c.args.empty())
    return send(plaintext_allowed() ? "+OK\r\nPLAIN\r\n.\r\n" : "+OK\r\n.\r\n");
  if (!iequals_ascii(c.args[0], "PLAIN")) return fail(err("Unsupported authentication mechanism"));
  if (!plaintext_allowed()) return fail(err(kPlaintextRefused));
  if (c.args.size() == 2) {
    // RFC 5034 4: "=" is an empty initial response.
    std::string_view initial = c.args[1] == "=" ? std::string_view() : std::string_view(c.args[1]);
    return on_sasl_response(initial);
  }
  sasl_pending_ = true;
  return send("+ \r\n");  // PLAIN's challenge is empty
}

Action Protocol::on_sasl_response(std::string_view line) {
  sasl_pending_ = false;
  // RFC 5034 4: "*" cancels the exchange and the server answers -ERR.
  if (line == "*") return fail(err("Authentication cancelled"));
  auto creds = auth::decode_plain(line);
  if (!creds) {
    switch (creds.error()) {
      case auth::SaslError::bad_base64: return fail(err("Invalid base64 data"));
      case auth::SaslError::authzid_differs: return fail(err("[AUTH] Authorization identity not supported"));
      case auth::SaslError::cancelled:
      case auth::SaslError::malformed: break;
    }
    return fail(err("Malformed authentication data"));
  }
  return authenticate(std::move(*creds));
}

Action Protocol::authenticate(auth::Credentials creds) {
  user_ = creds.username;
  Action a;
  a.kind = Action::authenticate;
  a.credentials = std::move(creds);
  return a;
}

Action Protocol::on_auth_result(AuthOutcome outcome) {
  if (outcome == AuthOutcome::ok) {
    Action a;
    a.kind = Action::load_maildrop;
    return a;
  }
  user_.clear();
  switch (outcome) {
    // RFC 3206 4 / AUTH-RESP-CODE: a credentials problem carries [AUTH].
    case AuthOutcome::bad_credentials: return fail(err("[AUTH] Authentication failed"));
    case AuthOutcome::banned: return fail(err("[SYS/TEMP] Too many failed logins, try again later"));
    case AuthOutcome::temp_failure:
    case AuthOutcome::ok: break;
  }
  return send(err("[SYS/TEMP] Temporary authentication failure, try again later"));
}

Action Protocol::on_maildrop_loaded(MaildropLoad load) {
  switch (load.kind) {
    case MaildropLoad::in_use:
      user_.clear();
      // RFC 2449 8.1.1 / RFC 1939 7 (PASS): the maildrop is locked by another session.
      return send(err("[IN-USE] Mailbox is locked by another POP3 session"));
    case MaildropLoad::temp_failure:
      user_.clear();
      return send(err("[SYS/TEMP] Cannot open the mailbox, try again later"));
    case MaildropLoad::ok: break;
  }
  std::set<std::string_view> seen;
  for (const auto& m : load.messages) {
    if (!valid_uidl(m.uidl) || !seen.insert(m.uidl).second) {
      user_.clear();
      return send(err("[SYS/PERM] The mailbox cannot be listed; contact the administrator"));
    }
  }
  messages_ = std::move(load.messages);
  deleted_.assign(messages_.size(), false);
  state_ = State::transaction;
  return send(ok(fmt::format("Logged in, maildrop has {} ({})", messages(live_count()), octets(live_octets()))));
}

Action Protocol::on_capa() {
  // RFC 2449 5: what is available in AUTHORIZATION is announced in both states;
  // STLS only where it can be used (RFC 2595 4).
  std::string r = ok("Capability list follows");
  r += "TOP\r\nUIDL\r\nRESP-CODES\r\nPIPELINING\r\nAUTH-RESP-CODE\r\n";
  if (plaintext_allowed()) r += "USER\r\nSASL PLAIN\r\n";
  if (policy_.tls_available && !tls_ && state_ == State::authorization) r += "STLS\r\n";
  r += "IMPLEMENTATION Shicks\r\n.\r\n";
  return send(std::move(r));
}

Action Protocol::on_stls() {
  if (tls_) return fail(err("Command not permitted when TLS active"));
  if (!policy_.tls_available) return fail(err("TLS not available"));
  Action a;
  a.kind = Action::start_tls;
  a.reply = ok("Begin TLS negotiation");
  return a;
}

void Protocol::on_tls_started() {
  // RFC 2595 4: everything learnt before the handshake is forgotten.
  tls_ = true;
  state_ = State::authorization;
  user_.clear();
  user_given_ = false;
  sasl_pending_ = false;
}

Action Protocol::on_quit() {
  if (state_ != State::transaction) return close(ok("Shicks POP3 server signing off"));
  // RFC 1939 6: QUIT in TRANSACTION enters UPDATE and removes the marked messages.
  state_ = State::update;
  Action a;
  a.kind = Action::update;
  for (std::size_t i = 0; i < messages_.size(); ++i)
    if (deleted_[i]) a.deleted_ids.push_back(messages_[i].id);
  return a;
}

Action Protocol::on_update_done(bool done) {
  if (!done) return close(err("[SYS/TEMP] Deleted messages not removed, try again later"));
  std::uint64_t left = live_count();
  return close(ok(left == 0 ? std::string("Shicks POP3 server signing off (maildrop empty)")
                            : fmt::format("Shicks POP3 server signing off ({} left)", messages(left))));
}

// ---------------------------------------------------------------- TRANSACTION

Expected<std::size_t, std::string> Protocol::message_index(std::string_view arg) const {
  auto n = parse_u64(arg);
  if (!n) return unexpected(err("Syntax error: invalid message number"));
  if (*n == 0 || *n > messages_.size()) return unexpected(err("No such message"));
  std::size_t i = std::size_t(*n - 1);
  // RFC 1939 5: a message-number may not refer to a message marked as deleted.
  if (deleted_[i]) return unexpected(err(fmt::format("Message {} is deleted", *n)));
  return i;
}

Action Protocol::on_list_or_uidl(const Command& c, bool uidl) {
  auto line = [&](std::size_t i) {
    return fmt::format("{} {}", i + 1, uidl ? messages_[i].uidl : std::to_string(messages_[i].size));
  };
  if (!c.args.empty()) {
    auto i = message_index(c.args[0]);
    if (!i) return fail(i.error());
    return send(ok(line(*i)));
  }
  std::string r = uidl ? ok("") : ok(fmt::format("{} ({})", messages(live_count()), octets(live_octets())));
  for (std::size_t i = 0; i < messages_.size(); ++i)
    if (!deleted_[i]) r += line(i) + "\r\n";
  r += ".\r\n";
  return send(std::move(r));
}

Action Protocol::on_retr_or_top(const Command& c, bool top) {
  auto i = message_index(c.args[0]);
  if (!i) return fail(i.error());
  Action a;
  a.kind = Action::retrieve;
  a.message = *i;
  a.message_id = messages_[*i].id;
  if (top) {
    auto lines = parse_u64(c.args[1]);
    if (!lines) return fail(err("Syntax error: invalid number of lines"));
    constexpr auto max = std::uint64_t(std::numeric_limits<std::int64_t>::max());
    a.top_lines = std::int64_t(std::min(*lines, max));
    a.reply = ok("Top of message follows");
  } else {
    a.reply = ok(octets(messages_[*i].size));
  }
  return a;
}

Action Protocol::on_retrieve_failed() { return send(err("[SYS/TEMP] Cannot read the message, try again later")); }

Action Protocol::on_dele(const Command& c) {
  auto i = message_index(c.args[0]);
  if (!i) return fail(i.error());
  deleted_[*i] = true;  // RFC 1939 5: only marked; removed in the UPDATE state
  return send(ok(fmt::format("Message {} deleted", *i + 1)));
}

Action Protocol::on_rset() {
  deleted_.assign(messages_.size(), false);
  return send(ok(fmt::format("Maildrop has {} ({})", messages(live_count()), octets(live_octets()))));
}

}  // namespace shicks::pop3
