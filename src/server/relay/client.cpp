#include "server/relay/client.hpp"

#include <fmt/core.h>

#include "common/base64.hpp"
#include "common/strings.hpp"
#include "server/config/runtime_settings.hpp"

namespace shicks::relay {

using std::chrono::seconds;

namespace {

// RFC 5321 4.5.3.2: the client's minimum timeouts per command.
constexpr seconds kGreetingTimeout{300};
constexpr seconds kCommandTimeout{300};  // EHLO, STARTTLS, AUTH, MAIL, RCPT, RSET
constexpr seconds kDataTimeout{120};     // DATA initiation
constexpr seconds kDataEndTimeout{600};  // DATA termination
constexpr seconds kQuitTimeout{60};

Outcome outcome_of(const ServerReply& r) {
  if (r.positive()) return Outcome::delivered;
  if (r.permanent()) return Outcome::permanent;
  return Outcome::temporary;  // 4xx, and a 3xx where none belongs
}

bool is_ascii(std::string_view s) {
  for (unsigned char c : s)
    if (c >= 0x80) return false;
  return true;
}

}  // namespace

TlsMode parse_tls_mode(std::string_view s) {
  if (s == "none") return TlsMode::none;
  if (s == "tls") return TlsMode::implicit;
  return TlsMode::starttls;
}

// RFC 5321 4.1.1.1: the first line greets, every further line is "keyword params".
// "AUTH=PLAIN LOGIN" is the pre-RFC 4954 spelling some servers still send.
Extensions parse_ehlo(const ServerReply& r) {
  Extensions e;
  e.esmtp = true;
  for (std::size_t i = 1; i < r.lines.size(); ++i) {
    std::string line = to_lower_ascii(r.lines[i]);
    std::string_view rest = line;
    std::size_t sp = rest.find_first_of(" =");
    std::string_view key = rest.substr(0, sp);
    std::string_view params = sp == std::string_view::npos ? std::string_view() : rest.substr(sp + 1);
    if (key == "starttls") e.starttls = true;
    else if (key == "pipelining") e.pipelining = true;
    else if (key == "8bitmime") e.eightbitmime = true;
    else if (key == "smtputf8") e.smtputf8 = true;
    else if (key == "size") {
      e.size = true;
      e.size_limit = parse_u64(trim(params)).value_or(0);
    } else if (key == "auth") {
      e.auth = true;
      for (auto mech : split(params, ' ')) {
        if (mech == "plain") e.auth_plain = true;
        if (mech == "login") e.auth_login = true;
      }
    }
  }
  return e;
}

Client::Client(ClientOptions opts) : opts_(std::move(opts)), tls_active_(opts_.tls == TlsMode::implicit) {}

Step Client::send(std::string line, Expect e, seconds timeout, std::string label) {
  Step s;
  s.kind = Step::send;
  if (label.empty()) label = line;
  s.label = std::move(label);
  s.data = std::move(line) + "\r\n";
  s.timeout = timeout;
  expect_.push_back(e);
  return s;
}

Step Client::fail(std::string why) {
  Step s;
  s.kind = Step::failed;
  s.error = std::move(why);
  reusable_ = false;
  return s;
}

Step Client::start() {
  expect_.push_back(Expect::greeting);
  Step s;
  s.kind = Step::read;
  s.timeout = kGreetingTimeout;
  s.label = "(greeting)";
  return s;
}

Step Client::on_tls_ready() {
  // RFC 3207 4.2: forget everything learnt before the handshake.
  tls_active_ = true;
  ext_ = Extensions{};
  return send("EHLO " + opts_.helo_name, Expect::ehlo, kCommandTimeout);
}

Step Client::after_hello() {
  if (opts_.tls == TlsMode::starttls && !tls_active_) {
    // relay.tls = starttls asks for TLS: no silent fallback to plaintext.
    if (!ext_.starttls) return fail("the relay does not offer STARTTLS (relay.tls is starttls)");
    return send("STARTTLS", Expect::starttls, kCommandTimeout);
  }
  if (!opts_.username.empty()) return authenticate();
  Step s;
  s.kind = Step::ready;
  return s;
}

// The password never crosses the network unencrypted (design.md 8): with
// relay.tls = none and a username set, the session fails instead, unless the relay
// is on loopback or the admin allowed plaintext AUTH (a relay on a trusted network).
Step Client::authenticate() {
  if (!tls_active_ && !opts_.allow_plaintext_auth) return fail(config::plaintext_auth_refusal(opts_.relay_host));
  if (!ext_.auth) return fail("the relay does not offer AUTH");
  if (ext_.auth_plain) {
    // RFC 4616: authzid NUL authcid NUL password, with the initial response (RFC 4954 4).
    std::string token;
    token += '\0';
    token += opts_.username;
    token += '\0';
    token += opts_.password;
    return send("AUTH PLAIN " + base64_encode(token), Expect::auth, kCommandTimeout, "AUTH PLAIN (credentials hidden)");
  }
  if (ext_.auth_login) return send("AUTH LOGIN", Expect::auth_login_user, kCommandTimeout);
  return fail("the relay offers neither AUTH PLAIN nor AUTH LOGIN");
}

Step Client::begin(const Envelope& env) {
  env_ = env;
  in_message_ = true;
  mail_ok_ = mail_failed_ = body_sent_ = false;
  next_rcpt_ = rcpt_reply_ = 0;
  results_.clear();
  for (const auto& r : env_.recipients) results_.push_back(RecipientResult{r, Outcome::temporary, "", "", false});
  settled_.assign(env_.recipients.size(), false);
  accepted_.assign(env_.recipients.size(), false);

  auto local_failure = [&](const char* status, std::string why) {
    for (auto& r : results_) {
      r.outcome = Outcome::permanent;
      r.status = status;
      r.diagnostic = why;
    }
    in_message_ = false;
    Step s;
    s.kind = Step::message_done;
    return s;
  };
  // RFC 1870 6: a message larger than the announced limit would be refused anyway.
  if (ext_.size && ext_.size_limit > 0 && env_.size > ext_.size_limit)
    return local_failure("5.3.4", fmt::format("message size {} exceeds the relay's limit of {} octets", env_.size,
                                              ext_.size_limit));
  bool utf8 = !is_ascii(env_.sender);
  for (const auto& r : env_.recipients) utf8 = utf8 || !is_ascii(r);
  // RFC 6531 3.2: non-ASCII addresses need SMTPUTF8 at the next hop.
  if (utf8 && !ext_.smtputf8)
    return local_failure("5.6.7", "the relay does not support SMTPUTF8, needed for a non-ASCII address");

  std::string mail = "MAIL FROM:<" + env_.sender + ">";
  if (ext_.size) mail += fmt::format(" SIZE={}", env_.size);
  // RFC 6152: declaring 8BITMIME for a 7-bit message is allowed, so it is always
  // declared when offered (no need to scan the body first). Without 8BITMIME at the
  // relay an 8-bit message is sent as it is, as Postfix does for mail it cannot
  // convert to 7 bits; see shicksd(8), RELAY.
  if (ext_.eightbitmime) mail += " BODY=8BITMIME";
  if (utf8) mail += " SMTPUTF8";
  if (!ext_.pipelining) return send(std::move(mail), Expect::mail, kCommandTimeout);

  // RFC 2920 3.1: MAIL, every RCPT and DATA in one write; the replies come in order.
  Step s = send(std::move(mail), Expect::mail, kCommandTimeout);
  for (std::size_t i = 0; i < env_.recipients.size(); ++i) {
    Step r = send(rcpt_line(i), Expect::rcpt, kCommandTimeout);
    s.data += r.data;
    s.label += "\n" + r.label;
  }
  Step d = send("DATA", Expect::data, kCommandTimeout);
  s.data += d.data;
  s.label += "\nDATA";
  next_rcpt_ = env_.recipients.size();
  return s;
}

std::string Client::rcpt_line(std::size_t i) const { return "RCPT TO:<" + env_.recipients[i] + ">"; }

Step Client::quit() { return send("QUIT", Expect::quit, kQuitTimeout); }

void Client::settle(std::size_t i, const ServerReply& r) {
  auto& res = results_[i];
  res.outcome = outcome_of(r);
  res.status = r.status;
  if (res.status.empty())
    res.status = res.outcome == Outcome::delivered ? "2.0.0" : res.outcome == Outcome::permanent ? "5.0.0" : "4.0.0";
  res.diagnostic = r.summary();
  res.remote = true;
  settled_[i] = true;
}

void Client::settle_all(const ServerReply& r) {
  for (std::size_t i = 0; i < results_.size(); ++i)
    if (!settled_[i]) settle(i, r);
}

void Client::settle_accepted(const ServerReply& r) {
  for (std::size_t i = 0; i < results_.size(); ++i)
    if (accepted_[i] && !settled_[i]) settle(i, r);
}

bool Client::any_accepted() const {
  for (bool a : accepted_)
    if (a) return true;
  return false;
}

Step Client::finish_message() {
  // After MAIL was accepted a transaction is open until the end of data; RSET closes
  // it so the connection can carry the next message (RFC 5321 4.1.1.5).
  if (mail_ok_ && !body_sent_) return send("RSET", Expect::rset, kCommandTimeout);
  in_message_ = false;
  Step s;
  s.kind = Step::message_done;
  return s;
}

Step Client::next_after_reply() {
  Step s;
  s.kind = Step::read;
  s.timeout = kCommandTimeout;
  return s;
}

Step Client::on_reply(const ServerReply& r) {
  if (expect_.empty()) return fail("the relay sent a reply nobody asked for: " + r.summary());
  Expect e = expect_.front();
  expect_.pop_front();
  switch (e) {
    case Expect::greeting:
      if (r.code != 220) return fail("the relay refused the session: " + r.summary());
      return send("EHLO " + opts_.helo_name, Expect::ehlo, kCommandTimeout);
    case Expect::ehlo:
      if (r.positive()) {
        ext_ = parse_ehlo(r);
        return after_hello();
      }
      // RFC 5321 3.2: a server that does not know EHLO gets HELO.
      if (r.permanent() && !helo_tried_ && !tls_active_) {
        helo_tried_ = true;
        return send("HELO " + opts_.helo_name, Expect::helo, kCommandTimeout);
      }
      return fail("EHLO refused: " + r.summary());
    case Expect::helo:
      if (!r.positive()) return fail("HELO refused: " + r.summary());
      ext_ = Extensions{};
      return after_hello();
    case Expect::starttls:
      if (r.code != 220) return fail("STARTTLS refused: " + r.summary());
      {
        Step s;
        s.kind = Step::start_tls;
        return s;
      }
    case Expect::auth_login_user:
      if (r.code != 334) return fail("AUTH LOGIN refused: " + r.summary());
      return send(base64_encode(opts_.username), Expect::auth_login_pass, kCommandTimeout, "(user name)");
    case Expect::auth_login_pass:
      if (r.code != 334) return fail("AUTH LOGIN refused the user name: " + r.summary());
      return send(base64_encode(opts_.password), Expect::auth, kCommandTimeout, "(password)");
    case Expect::auth:
      if (r.code != 235) return fail("authentication failed: " + r.summary());
      {
        Step s;
        s.kind = Step::ready;
        return s;
      }
    case Expect::mail:
      if (r.positive()) {
        mail_ok_ = true;
      } else {
        mail_failed_ = true;
        settle_all(r);
      }
      if (ext_.pipelining) return next_after_reply();
      if (mail_failed_) return finish_message();
      next_rcpt_ = 1;
      return send(rcpt_line(0), Expect::rcpt, kCommandTimeout);
    case Expect::rcpt: {
      std::size_t i = rcpt_reply_++;
      if (i < results_.size() && !mail_failed_) {
        if (r.positive()) accepted_[i] = true;
        else settle(i, r);
      }
      if (ext_.pipelining) return next_after_reply();
      if (next_rcpt_ < env_.recipients.size()) return send(rcpt_line(next_rcpt_++), Expect::rcpt, kCommandTimeout);
      if (!any_accepted()) return finish_message();
      return send("DATA", Expect::data, kDataTimeout);
    }
    case Expect::data:
      if (r.code == 354) {
        if (mail_ok_ && any_accepted()) {
          expect_.push_back(Expect::data_end);
          body_sent_ = true;
          Step s;
          s.kind = Step::send_body;
          s.timeout = kDataEndTimeout;
          return s;
        }
        // RFC 2920 3.1: DATA was accepted though no recipient was; end it at once.
        body_sent_ = true;
        Step s = send(".", Expect::dot_only, kDataEndTimeout);
        return s;
      }
      if (mail_ok_) settle_accepted(r);
      return finish_message();
    case Expect::data_end:
      settle_accepted(r);
      return finish_message();
    case Expect::dot_only:
      return finish_message();
    case Expect::rset:
      if (!r.positive()) reusable_ = false;
      in_message_ = false;
      {
        Step s;
        s.kind = Step::message_done;
        return s;
      }
    case Expect::quit: {
      Step s;
      s.kind = Step::closed;
      return s;
    }
  }
  return fail("internal error: unknown state");
}

std::vector<RecipientResult> Client::take_results() {
  auto out = std::move(results_);
  results_.clear();
  return out;
}

std::vector<RecipientResult> Client::abort(const std::string& why) {
  reusable_ = false;
  if (!in_message_) return {};
  in_message_ = false;
  for (std::size_t i = 0; i < results_.size(); ++i) {
    // An accepted RCPT is no delivery: only the reply to the end of data is.
    if (settled_[i]) continue;
    results_[i].outcome = Outcome::temporary;
    results_[i].status = "4.4.2";  // RFC 3463: bad connection
    results_[i].diagnostic = why;
    results_[i].remote = false;
  }
  return take_results();
}

}  // namespace shicks::relay
