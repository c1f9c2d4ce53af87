#include "server/smtp/protocol.hpp"

#include <fmt/core.h>

#include <cstdlib>

#include "common/strings.hpp"

namespace shicks::smtp {

namespace {
Reply r(int code, const char* status, std::string text) { return Reply(code, status, std::move(text)); }
}  // namespace

const char* close_reason_name(CloseReason reason) {
  switch (reason) {
    case CloseReason::quit: return "quit";
    case CloseReason::too_many_errors: return "too-many-errors";
    case CloseReason::none: break;
  }
  return "none";
}

// ---------------------------------------------------------------- the verb table

namespace {
// What must come first: nothing, EHLO or HELO (RFC 5321 4.1.4), EHLO (RFC 4954 4:
// AUTH is an extension).
enum class Greeting { none, helo, ehlo };
// Inside a mail transaction (after MAIL, until DATA ends or RSET): allowed, refused
// (RFC 5321 4.1.4 no nested MAIL; RFC 4954 4 no AUTH), or required (RCPT, DATA).
enum class InMail { allowed, refused, required };
}  // namespace

// A row's defaults are the permissive values: a row spells out only its gates.
struct Protocol::VerbRow {
  Verb verb;                               // its name is verb_name(verb)
  Greeting greeting = Greeting::none;      // what must come first
  InMail in_mail = InMail::allowed;
  bool before_auth = true;                 // on submission and SMTPS: allowed before AUTH (RFC 6409 4.3)
  bool after_auth = true;                  // allowed once authenticated (RFC 4954 4: AUTH is not)
  bool junk = false;                       // never accepted: the handler's reply counts toward max_errors
  bool help = true;                        // listed by HELP
  const char* keyword = nullptr;           // its EHLO keyword, listed while (this->*offered)()
  bool (Protocol::*offered)() const = nullptr;
  Action (Protocol::*handler)(const Command&) = nullptr;
};

// One row per verb, in the order HELP lists them; EHLO lists the keywords in this
// order too, after the extensions that bring no verb (ehlo_lines()). check() asks a
// row's gates before its handler runs.
const Protocol::VerbRow Protocol::kVerbs[] = {
    {.verb = Verb::ehlo, .handler = &Protocol::on_ehlo},
    {.verb = Verb::helo, .handler = &Protocol::on_helo},
    {.verb = Verb::mail,
     .greeting = Greeting::helo,
     .in_mail = InMail::refused,
     .before_auth = false,
     .handler = &Protocol::on_mail},
    {.verb = Verb::rcpt, .in_mail = InMail::required, .before_auth = false, .handler = &Protocol::on_rcpt},
    {.verb = Verb::data, .in_mail = InMail::required, .before_auth = false, .handler = &Protocol::on_data},
    {.verb = Verb::rset, .handler = &Protocol::on_rset},
    {.verb = Verb::noop, .handler = &Protocol::on_noop},
    {.verb = Verb::quit, .handler = &Protocol::on_quit},
    {.verb = Verb::vrfy, .handler = &Protocol::on_vrfy},
    {.verb = Verb::starttls,  // RFC 3207
     .keyword = "STARTTLS",
     .offered = &Protocol::starttls_offered,
     .handler = &Protocol::on_starttls},
    {.verb = Verb::auth,  // RFC 4954
     .greeting = Greeting::ehlo,
     .in_mail = InMail::refused,
     .after_auth = false,
     .keyword = "AUTH PLAIN LOGIN",
     .offered = &Protocol::auth_offered,
     .handler = &Protocol::on_auth},
    {.verb = Verb::help, .handler = &Protocol::on_help},
    {.verb = Verb::bdat, .junk = true, .help = false, .handler = &Protocol::on_bdat},  // RFC 3030: no CHUNKING
    {.verb = Verb::expn, .help = false, .handler = &Protocol::on_expn},
};

const Protocol::VerbRow& Protocol::row(Verb v) {
  for (const auto& e : kVerbs)
    if (e.verb == v) return e;
  std::abort();  // every Verb has a row
}

Protocol::Protocol(Policy policy) : policy_(std::move(policy)), tls_(policy_.tls_active) {}

Reply Protocol::greeting() const {
  // RFC 5321 4.3.1 / RFC 2034 3: the greeting carries no enhanced status code.
  return r(220, "", fmt::format("{} ESMTP Shicks", policy_.hostname));
}

Reply Protocol::shutdown_reply() const {
  return r(421, "4.3.2", fmt::format("{} Service shutting down, closing transmission channel", policy_.hostname));
}

Reply Protocol::timeout_reply() const {
  return r(421, "4.4.2", fmt::format("{} Error: timeout exceeded", policy_.hostname));
}

Action Protocol::send(Reply reply) {
  Action a;
  a.kind = Action::send;
  a.reply = std::move(reply);
  return a;
}

Action Protocol::close(Reply reply, CloseReason why) {
  state_ = State::closed;
  Action a;
  a.kind = Action::close;
  a.reply = std::move(reply);
  a.close_reason = why;
  return a;
}

Action Protocol::fail(Reply reply) {
  // Postfix-style error budget: a client that keeps getting errors is cut off.
  if (++errors_ >= policy_.max_errors)
    return close(r(421, "4.7.0", fmt::format("{} Error: too many errors", policy_.hostname)),
                 CloseReason::too_many_errors);
  return send(std::move(reply));
}

void Protocol::reset_transaction() {
  tx_ = Transaction{};
  if (state_ == State::in_mail || state_ == State::data || state_ == State::delivering) state_ = State::greeted;
}

bool Protocol::plaintext_auth_allowed() const {
  // design.md 8 / RFC 4954 4: plaintext mechanisms only under TLS, or from loopback
  // when the admin allows it (as Dovecot does).
  return tls_ || (policy_.peer_loopback && policy_.plaintext_auth_on_loopback);
}

bool Protocol::starttls_offered() const { return policy_.tls_available && !tls_; }
bool Protocol::auth_offered() const { return plaintext_auth_allowed() && user_.empty(); }

std::vector<std::string> Protocol::ehlo_lines() const {
  std::vector<std::string> lines;
  lines.push_back(policy_.hostname);
  // The extensions that bring no verb of their own (MAIL parameters, behaviour).
  lines.push_back("PIPELINING");                                       // RFC 2920
  lines.push_back(fmt::format("SIZE {}", policy_.max_message_size));  // RFC 1870
  lines.push_back("8BITMIME");                                         // RFC 6152
  lines.push_back("ENHANCEDSTATUSCODES");                              // RFC 2034
  lines.push_back("SMTPUTF8");                                         // RFC 6531
  // Those of the verb table, while the verb can be used.
  for (const auto& v : kVerbs)
    if (v.keyword && (this->*v.offered)()) lines.push_back(v.keyword);
  return lines;
}

const char* Protocol::state_name() const {
  switch (state_) {
    case State::fresh: return "connected";
    case State::greeted: return "greeted";
    case State::auth_plain:
    case State::auth_login: return "auth";
    case State::in_mail: return "mail";
    case State::data: return "data";
    case State::tls: return "starttls";
    case State::delivering: return "delivering";
    case State::closed: return "closed";
  }
  return "?";
}

std::string Protocol::with_protocol() const {
  // RFC 3848 / RFC 6531 3.7.3
  std::string base = tx_.smtputf8 ? "UTF8SMTP" : (esmtp_ ? "ESMTP" : "SMTP");
  if (!esmtp_ && !tx_.smtputf8) return base;
  if (tls_) base += "S";
  if (!user_.empty()) base += "A";
  return base;
}

Action Protocol::on_line_too_long() { return fail(r(500, "5.5.2", "Error: line too long")); }

Action Protocol::on_line(std::string_view line) {
  if (state_ == State::auth_plain || state_ == State::auth_login) return on_sasl_line(line);
  auto cmd = parse_command(line, tx_.smtputf8);
  if (!cmd) return fail(cmd.error());
  // Check: is the command allowed now?
  const VerbRow& v = row(cmd->verb);
  if (auto refused = check(v)) return fail(std::move(*refused));
  // Proceed.
  Action a = (this->*v.handler)(*cmd);
  return v.junk ? fail(std::move(a.reply)) : a;
}

// The gates of a verb's row, in this order; the first that refuses answers (so AUTH
// inside a transaction after a successful AUTH is "already authenticated").
std::optional<Reply> Protocol::check(const VerbRow& v) const {
  const bool greeted = state_ != State::fresh;
  if (v.greeting == Greeting::helo && !greeted) return r(503, "5.5.1", "Error: send EHLO or HELO first");
  if (v.greeting == Greeting::ehlo && (!greeted || !esmtp_)) return r(503, "5.5.1", "Error: send EHLO first");
  if (!v.after_auth && !user_.empty()) return r(503, "5.5.1", "Error: already authenticated");
  const bool in_mail = state_ == State::in_mail;
  if (v.in_mail == InMail::required && !in_mail) return r(503, "5.5.1", "Error: need MAIL command");
  if (v.in_mail == InMail::refused && in_mail) {
    if (v.verb == Verb::mail) return r(503, "5.5.1", "Error: nested MAIL command");
    return r(503, "5.5.1", fmt::format("Error: {} is not allowed during a mail transaction", verb_name(v.verb)));
  }
  if (!v.before_auth && policy_.listener != Listener::mx && user_.empty()) {
    // RFC 6409 4.3 (submission) / RFC 4954 6: 530 5.7.0
    if (!tls_ && policy_.tls_available && !plaintext_auth_allowed())
      return r(530, "5.7.0", "Must issue a STARTTLS command first");
    return r(530, "5.7.0", "Authentication required");
  }
  return std::nullopt;
}

// ---------------------------------------------------------------- the handlers

Action Protocol::on_helo(const Command& c) { return greet(c, false); }
Action Protocol::on_ehlo(const Command& c) { return greet(c, true); }

// RFC 5321 4.1.1.1: EHLO/HELO (again) resets the transaction; RFC 4954 keeps AUTH.
Action Protocol::greet(const Command& c, bool extended) {
  reset_transaction();
  helo_ = c.arg;
  esmtp_ = extended;
  state_ = State::greeted;
  Reply reply;
  reply.code = 250;
  if (extended) reply.lines = ehlo_lines();
  else reply.lines = {policy_.hostname};
  return send(std::move(reply));
}

Action Protocol::on_rset(const Command&) {
  reset_transaction();
  return send(r(250, "2.0.0", "Ok"));
}

Action Protocol::on_noop(const Command&) { return send(r(250, "2.0.0", "Ok")); }

Action Protocol::on_quit(const Command&) {
  return close(r(221, "2.0.0", fmt::format("{} closing connection", policy_.hostname)), CloseReason::quit);
}

// RFC 5321 4.1.1.8: the topic is not looked at; the answer lists the commands.
Action Protocol::on_help(const Command&) {
  std::string text = "Commands:";
  for (const auto& v : kVerbs)
    if (v.help) text += fmt::format(" {}", verb_name(v.verb));
  return send(r(214, "2.0.0", std::move(text)));
}

// RFC 5321 3.5.3: 252 says nothing about whether the user exists.
Action Protocol::on_vrfy(const Command&) {
  return send(r(252, "2.5.0", "Cannot VRFY user, but will accept message and attempt delivery"));
}

Action Protocol::on_expn(const Command&) { return send(r(502, "5.5.1", "Error: EXPN is not available")); }

Action Protocol::on_bdat(const Command&) {
  return send(r(502, "5.5.1", "Error: BDAT is not offered (no CHUNKING); use DATA"));
}

Action Protocol::on_mail(const Command& c) {
  if (!esmtp_ && (c.size || c.body != Body::unspecified || c.smtputf8 || c.auth))
    return fail(r(555, "5.5.4", "Error: MAIL parameters need EHLO"));
  if (c.body == Body::binary_mime)
    return fail(r(555, "5.5.4", "Error: BODY=BINARYMIME needs CHUNKING, which is not offered"));
  // RFC 1870 6.2: a declared size over the limit is refused at MAIL.
  if (c.size && *c.size > policy_.max_message_size)
    return send(r(552, "5.3.4", "Error: message size exceeds fixed maximum message size"));
  if (!user_.empty() && policy_.sender_must_match_auth && !c.path.null) {
    pending_mail_ = c;
    Action a;
    a.kind = Action::check_sender;
    a.mailbox = c.path.mailbox;
    return a;
  }
  tx_ = Transaction{};
  tx_.sender = c.path;
  tx_.body = c.body;
  tx_.smtputf8 = c.smtputf8;
  state_ = State::in_mail;
  return send(r(250, "2.1.0", "Ok"));
}

Action Protocol::on_sender_checked(bool owned, bool temp_failure) {
  if (temp_failure) return send(r(451, "4.3.0", "Error: temporary failure checking the sender, try again"));
  if (!owned)
    return fail(r(553, "5.7.1",
                  fmt::format("<{}>: Sender address rejected: not owned by user {}", pending_mail_.path.mailbox.str(),
                              user_)));
  tx_ = Transaction{};
  tx_.sender = pending_mail_.path;
  tx_.body = pending_mail_.body;
  tx_.smtputf8 = pending_mail_.smtputf8;
  state_ = State::in_mail;
  return send(r(250, "2.1.0", "Ok"));
}

Action Protocol::on_rcpt(const Command& c) {
  // RFC 5321 4.5.3.1.10: 452 for too many recipients; the client sends the rest later.
  if (tx_.recipients.size() >= policy_.max_recipients)
    return send(r(452, "4.5.3", "Error: too many recipients"));
  pending_rcpt_ = Recipient{};
  pending_postmaster_ = c.path.postmaster;
  if (c.path.postmaster) {
    // RFC 5321 4.5.1: <Postmaster> without a domain must be accepted: ours.
    pending_rcpt_.address.local = "postmaster";
    pending_rcpt_.address.domain = to_lower_ascii(policy_.hostname);
  } else {
    pending_rcpt_.address = c.path.mailbox;
  }
  Action a;
  a.kind = Action::lookup_recipient;
  a.mailbox = pending_rcpt_.address;
  return a;
}

Action Protocol::on_recipient(const RecipientLookup& lookup) {
  std::string addr = pending_rcpt_.address.str();
  switch (lookup.kind) {
    case RecipientLookup::local:
      pending_rcpt_.user_ids = lookup.user_ids;
      break;
    case RecipientLookup::unknown_local:
      return fail(r(550, "5.1.1", fmt::format("<{}>: Recipient address rejected: user unknown", addr)));
    case RecipientLookup::disabled:
      return fail(r(550, "5.2.1", fmt::format("<{}>: Recipient address rejected: mailbox disabled", addr)));
    case RecipientLookup::temp_failure:
      return send(r(451, "4.3.0", fmt::format("<{}>: temporary lookup failure, try again later", addr)));
    case RecipientLookup::foreign:
      if (pending_postmaster_)  // RFC 5321 4.5.1 wants one; the admin has not created it
        return fail(r(550, "5.1.1", fmt::format("<{}>: no postmaster address is configured here", addr)));
      if (!(policy_.peer_trusted || !user_.empty()) || !policy_.relay_configured)
        return fail(r(550, "5.7.1", fmt::format("<{}>: Relay access denied", addr)));
      pending_rcpt_.relay = true;
      break;
  }
  bool duplicate = false;
  for (const auto& existing : tx_.recipients)
    if (iequals_ascii(existing.address.str(), addr)) duplicate = true;
  if (!duplicate) tx_.recipients.push_back(pending_rcpt_);
  return send(r(250, "2.1.5", "Ok"));
}

Action Protocol::on_data(const Command&) {
  if (tx_.recipients.empty()) return fail(r(554, "5.5.1", "Error: no valid recipients"));
  state_ = State::data;
  Action a;
  a.kind = Action::read_data;
  a.reply = r(354, "", "End data with <CR><LF>.<CR><LF>");
  // Postfix's smtpd_forbid_bare_newline = normalize, for authenticated submission
  // only: clients such as `curl -T` send a file's LF line ends as they are. The MX
  // port stays strict (the SMTP smuggling defence); either way only CRLF.CRLF ends
  // the message.
  if (policy_.listener != Listener::mx && !user_.empty() && policy_.submission_bare_lf_normalise)
    a.bare_lf = BareLf::normalise;
  return a;
}

Action Protocol::on_data_end(const DataOutcome& d) {
  if (d.bare_line_ending) {
    reset_transaction();
    // Only CRLF.CRLF ends DATA; a bare CR or LF is refused rather than guessed at
    // (the defence against SMTP smuggling).
    return fail(r(550, "5.5.2", "Error: bare CR or LF in the message; only CRLF line ends are allowed"));
  }
  if (d.nul) {
    reset_transaction();
    // RFC 5321 4.5.2 / RFC 5322 2.3 / RFC 6152: mail text never holds NUL; the
    // message is refused rather than stored or relayed with it.
    return fail(r(554, "5.6.0", "Error: NUL character in the message; it is not allowed in mail"));
  }
  if (d.too_big) {
    reset_transaction();
    return send(r(552, "5.3.4", "Error: message size exceeds fixed maximum message size"));
  }
  state_ = State::delivering;
  Action a;
  a.kind = Action::deliver;
  return a;
}

Action Protocol::on_delivered(const DeliveryResult& result) {
  reset_transaction();
  switch (result.kind) {
    case DeliveryResult::committed: return send(r(250, "2.0.0", fmt::format("Ok: queued as {}", result.id)));
    case DeliveryResult::temp_failure:
      return send(r(451, "4.3.0", "Error: temporary failure storing the message, try again later"));
    case DeliveryResult::outcome_unknown:
      return send(r(451, "4.3.0", "Error: the message may not have been stored, try again later"));
    // RFC 5321 4.2.2 / RFC 3463 X.3.1: the mail system is full; nothing was stored.
    case DeliveryResult::insufficient_storage:
      return send(r(452, "4.3.1", "Error: insufficient system storage, try again later"));
    case DeliveryResult::spam_rejected: return send(r(550, "5.7.1", "Error: message refused as spam"));
  }
  return send(r(451, "4.3.0", "Error: local error"));
}

Action Protocol::on_starttls(const Command&) {
  if (tls_) return fail(r(503, "5.5.1", "Error: TLS already active"));
  if (!policy_.tls_available) return fail(r(454, "4.7.0", "TLS not available"));
  state_ = State::tls;
  Action a;
  a.kind = Action::start_tls;
  a.reply = r(220, "2.0.0", "Ready to start TLS");
  return a;
}

void Protocol::on_tls_started() {
  tls_ = true;
  helo_.clear();
  esmtp_ = false;
  user_.clear();
  tx_ = Transaction{};
  state_ = State::fresh;
}

Action Protocol::on_auth(const Command& c) {
  if (!plaintext_auth_allowed()) {
    if (policy_.tls_available && !tls_)
      return fail(r(538, "5.7.11", "Encryption required for requested authentication mechanism"));
    return fail(r(503, "5.5.1", "Error: authentication is not available"));
  }
  std::string_view arg = c.arg;
  auto space = arg.find(' ');
  std::string mech = to_lower_ascii(arg.substr(0, space));
  std::string_view initial = space == std::string_view::npos ? std::string_view() : trim(arg.substr(space + 1));
  bool has_initial = space != std::string_view::npos && !initial.empty();
  if (mech == "plain") {
    if (!has_initial) {
      state_ = State::auth_plain;
      Action a;
      a.kind = Action::sasl_continue;
      a.reply = r(334, "", "");
      return a;
    }
    state_ = State::auth_plain;
    return on_sasl_line(initial);
  }
  if (mech == "login") {
    login_ = auth::LoginExchange{};
    state_ = State::auth_login;
    if (has_initial && initial != "=") return on_sasl_line(initial);
    Action a;
    a.kind = Action::sasl_continue;
    a.reply = r(334, "", login_.challenge());
    return a;
  }
  return fail(r(504, "5.5.4", "Error: unrecognized authentication type; use PLAIN or LOGIN"));
}

Action Protocol::on_sasl_line(std::string_view line) {
  State was = state_;
  state_ = State::greeted;
  auto error_reply = [&](auth::SaslError e) {
    switch (e) {
      case auth::SaslError::cancelled: return r(501, "5.0.0", "Authentication cancelled");
      case auth::SaslError::bad_base64: return r(501, "5.5.2", "Error: invalid base64 data");
      case auth::SaslError::authzid_differs: return r(535, "5.7.8", "Error: authorization identity not supported");
      case auth::SaslError::malformed: break;
    }
    return r(501, "5.5.2", "Error: malformed authentication data");
  };
  if (line == "*") return fail(error_reply(auth::SaslError::cancelled));
  if (was == State::auth_plain) {
    auto creds = auth::decode_plain(line);
    if (!creds) return fail(error_reply(creds.error()));
    Action a;
    a.kind = Action::authenticate;
    a.credentials = std::move(*creds);
    return a;
  }
  auto step = login_.answer(line);
  if (!step) return fail(error_reply(step.error()));
  if (!step->has_value()) {
    state_ = State::auth_login;
    Action a;
    a.kind = Action::sasl_continue;
    a.reply = r(334, "", login_.challenge());
    return a;
  }
  Action a;
  a.kind = Action::authenticate;
  a.credentials = std::move(**step);
  return a;
}

Action Protocol::on_auth_result(AuthOutcome outcome, const std::string& user) {
  switch (outcome) {
    case AuthOutcome::ok:
      user_ = user;
      return send(r(235, "2.7.0", "Authentication successful"));
    case AuthOutcome::bad_credentials: return fail(r(535, "5.7.8", "Error: authentication failed"));
    case AuthOutcome::banned: return fail(r(454, "4.7.0", "Error: too many failed logins, try again later"));
    case AuthOutcome::temp_failure: return send(r(454, "4.7.0", "Error: temporary authentication failure"));
  }
  return send(r(454, "4.7.0", "Error: temporary authentication failure"));
}

}  // namespace shicks::smtp
