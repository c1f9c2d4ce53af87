#include "server/smtp/protocol.hpp"

#include <fmt/core.h>

#include "common/strings.hpp"

namespace shicks::smtp {

namespace {
Reply r(int code, const char* status, std::string text) { return Reply(code, status, std::move(text)); }
}  // namespace

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

Action Protocol::fail(Reply reply) {
  // Postfix-style error budget: a client that keeps getting errors is cut off.
  if (++errors_ >= policy_.max_errors) {
    state_ = State::closed;
    Action a;
    a.kind = Action::close;
    a.reply = r(421, "4.7.0", fmt::format("{} Error: too many errors", policy_.hostname));
    return a;
  }
  return send(std::move(reply));
}

void Protocol::reset_transaction() {
  tx_ = Transaction{};
  if (state_ == State::in_mail || state_ == State::data || state_ == State::delivering) state_ = State::greeted;
}

bool Protocol::auth_offered() const {
  // design.md 8 / RFC 4954 4: plaintext mechanisms only under TLS, or from loopback
  // when the admin allows it (as Dovecot does).
  return tls_ || (policy_.peer_loopback && policy_.plaintext_auth_on_loopback);
}

std::vector<std::string> Protocol::ehlo_lines() const {
  std::vector<std::string> lines;
  lines.push_back(policy_.hostname);
  lines.push_back("PIPELINING");                                          // RFC 2920
  lines.push_back(fmt::format("SIZE {}", policy_.max_message_size));     // RFC 1870
  lines.push_back("8BITMIME");                                            // RFC 6152
  lines.push_back("ENHANCEDSTATUSCODES");                                 // RFC 2034
  lines.push_back("SMTPUTF8");                                            // RFC 6531
  if (policy_.tls_available && !tls_) lines.push_back("STARTTLS");        // RFC 3207
  if (auth_offered() && user_.empty()) lines.push_back("AUTH PLAIN LOGIN");  // RFC 4954
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
  return dispatch(*cmd);
}

Action Protocol::dispatch(const Command& c) {
  switch (c.verb) {
    case Verb::helo: return on_helo(c, false);
    case Verb::ehlo: return on_helo(c, true);
    case Verb::mail: return on_mail(c);
    case Verb::rcpt: return on_rcpt(c);
    case Verb::data: return on_data();
    case Verb::bdat: return fail(r(502, "5.5.1", "Error: BDAT is not offered (no CHUNKING); use DATA"));
    case Verb::rset:
      reset_transaction();
      return send(r(250, "2.0.0", "Ok"));
    case Verb::noop: return send(r(250, "2.0.0", "Ok"));
    case Verb::quit: {
      state_ = State::closed;
      Action a;
      a.kind = Action::close;
      a.reply = r(221, "2.0.0", fmt::format("{} closing connection", policy_.hostname));
      return a;
    }
    case Verb::help:
      return send(r(214, "2.0.0", "Commands: EHLO HELO MAIL RCPT DATA RSET NOOP QUIT VRFY STARTTLS AUTH HELP"));
    case Verb::vrfy:
      // RFC 5321 3.5.3: 252 says nothing about whether the user exists.
      return send(r(252, "2.5.0", "Cannot VRFY user, but will accept message and attempt delivery"));
    case Verb::expn: return send(r(502, "5.5.1", "Error: EXPN is not available"));
    case Verb::starttls: return on_starttls();
    case Verb::auth: return on_auth(c);
  }
  return fail(r(500, "5.5.2", "Error: command unrecognized"));
}

// RFC 5321 4.1.1.1: EHLO/HELO (again) resets the transaction; RFC 4954 keeps AUTH.
Action Protocol::on_helo(const Command& c, bool extended) {
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

std::optional<Reply> Protocol::check_mail_allowed() const {
  if (state_ == State::fresh) return r(503, "5.5.1", "Error: send EHLO or HELO first");
  if (state_ == State::in_mail) return r(503, "5.5.1", "Error: nested MAIL command");
  if (policy_.listener != Listener::mx && user_.empty()) {
    // RFC 6409 4.3 (submission) / RFC 4954 6: 530 5.7.0
    if (!tls_ && policy_.tls_available && !auth_offered())
      return r(530, "5.7.0", "Must issue a STARTTLS command first");
    return r(530, "5.7.0", "Authentication required");
  }
  return std::nullopt;
}

Action Protocol::on_mail(const Command& c) {
  if (auto err = check_mail_allowed()) return fail(*err);
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
  if (state_ != State::in_mail) return fail(r(503, "5.5.1", "Error: need MAIL command"));
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

Action Protocol::on_data() {
  if (state_ != State::in_mail) return fail(r(503, "5.5.1", "Error: need MAIL command"));
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

Action Protocol::on_starttls() {
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
  if (state_ == State::fresh || !esmtp_) return fail(r(503, "5.5.1", "Error: send EHLO first"));
  if (!user_.empty()) return fail(r(503, "5.5.1", "Error: already authenticated"));
  if (state_ == State::in_mail) return fail(r(503, "5.5.1", "Error: AUTH is not allowed during a mail transaction"));
  if (!auth_offered()) {
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
