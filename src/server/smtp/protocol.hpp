#pragma once
// The RFC 5321 server state machine, without sockets, database or clock.
//
// The session driver (smtp/session.cpp) reads a line, hands it to on_line(), and
// carries out the Action it gets back: send a reply, or do a side effect (look up a
// recipient, check a password, start TLS, read the message, store it) and report
// the outcome through the matching on_*() method, which returns the next Action.
// Each command goes through a check step (is it allowed now? RFC 5321 4.1.4
// sequencing, TLS/AUTH policy) and a proceed step (its handler). Both are read from
// the verb table in protocol.cpp: one row per verb with its gates, its EHLO keyword,
// whether HELP lists it, and its handler.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "server/auth/sasl.hpp"
#include "server/mail/address.hpp"
#include "server/smtp/command.hpp"
#include "server/smtp/data_decoder.hpp"
#include "server/smtp/reply.hpp"

namespace shicks::smtp {

enum class Listener { mx, submission, smtps };

// Fixed for one connection.
struct Policy {
  std::string hostname;
  Listener listener = Listener::mx;
  bool tls_available = false;   // a certificate is loaded: STARTTLS can be offered
  bool tls_active = false;      // the connection is already encrypted (smtps)
  bool peer_trusted = false;    // in smtp.trusted_networks: may relay without AUTH
  bool peer_loopback = false;
  bool plaintext_auth_on_loopback = true;
  bool relay_configured = false;  // relay.host is set
  bool sender_must_match_auth = true;
  // smtp.submission_bare_lf = normalise: on submission and SMTPS, after AUTH, a bare
  // LF in DATA is a line end (stored as CRLF); on the MX port it is always refused.
  bool submission_bare_lf_normalise = true;
  std::uint64_t max_message_size = 26214400;
  unsigned max_recipients = 100;
  unsigned max_errors = 10;  // error replies before "421 too many errors"
};

// What the store says about a RCPT address.
struct RecipientLookup {
  enum Kind {
    local,           // delivers to `user_ids` (an alias may fan out)
    unknown_local,   // the domain is ours but the address is not: 550 5.1.1
    disabled,        // every target user is disabled: 550 5.2.1
    foreign,         // not a domain we hold: relay or 550 5.7.1
    temp_failure,    // the database did not answer: 451 4.3.0
  } kind = foreign;
  std::vector<std::uint64_t> user_ids;
};

struct Recipient {
  mail::Mailbox address;
  bool relay = false;                  // queued for the smarthost
  std::vector<std::uint64_t> user_ids;  // local mailboxes
};

struct Transaction {
  mail::Path sender;
  Body body = Body::unspecified;
  bool smtputf8 = false;
  std::vector<Recipient> recipients;
};

// The outcome of storing a message.
struct DeliveryResult {
  enum Kind { committed, temp_failure, outcome_unknown, insufficient_storage, spam_rejected } kind = committed;
  std::string id;  // queue id shown in the 250 reply
};

// Why an Action::close ends the connection: every close the protocol decides carries
// one (none is for the other kinds). Shutdown, timeouts and lost connections are the
// driver's to name.
enum class CloseReason { none, quit, too_many_errors };
// The session's end reason in its smtp.disconnect log line: "quit", "too-many-errors".
const char* close_reason_name(CloseReason reason);

struct Action {
  enum Kind {
    send,             // send `reply`, read the next command
    close,            // send `reply`, then close the connection (`close_reason` says why)
    lookup_recipient, // look up `mailbox` -> on_recipient()
    check_sender,     // is `mailbox` an address of the authenticated user? -> on_sender_checked()
    authenticate,     // verify `credentials` -> on_auth_result()
    sasl_continue,    // send `reply` (334), hand the next raw line to on_sasl_line()
    start_tls,        // send `reply` (220), drop buffered plaintext, handshake -> on_tls_started()
    read_data,        // send `reply` (354), read the message with a DataDecoder (in the
                      // `bare_lf` mode) -> on_data_end()
    deliver,          // store transaction() -> on_delivered()
  } kind = send;
  Reply reply;
  mail::Mailbox mailbox;
  auth::Credentials credentials;
  BareLf bare_lf = BareLf::reject;  // read_data
  CloseReason close_reason = CloseReason::none;  // close
};

class Protocol {
 public:
  explicit Protocol(Policy policy);

  Reply greeting() const;  // 220
  Action on_line(std::string_view line);
  Action on_line_too_long();

  Action on_recipient(const RecipientLookup& lookup);
  Action on_sender_checked(bool owned, bool temp_failure);
  Action on_sasl_line(std::string_view line);
  // ok: authenticated as `user`; banned: throttled (454); temp: database trouble (454).
  enum class AuthOutcome { ok, bad_credentials, banned, temp_failure };
  Action on_auth_result(AuthOutcome outcome, const std::string& user);
  // The handshake succeeded: everything learnt before it is forgotten (RFC 3207 4.2);
  // nothing is sent, the client starts again with EHLO.
  void on_tls_started();
  struct DataOutcome {
    bool bare_line_ending = false;
    bool nul = false;  // a NUL octet in the message
    bool too_big = false;
    std::uint64_t size = 0;
  };
  Action on_data_end(const DataOutcome& d);
  Action on_delivered(const DeliveryResult& r);

  // Shutdown (421 4.3.2) and timeouts (421 4.4.2).
  Reply shutdown_reply() const;
  Reply timeout_reply() const;

  const Transaction& transaction() const { return tx_; }
  const Policy& policy() const { return policy_; }
  bool tls_active() const { return tls_; }
  const std::string& authenticated_user() const { return user_; }
  const std::string& helo() const { return helo_; }
  bool ehlo() const { return esmtp_; }
  // RFC 3848 "with" keyword for the Received header: SMTP, ESMTP, ESMTPS, ESMTPA,
  // ESMTPSA, UTF8SMTP, UTF8SMTPS, UTF8SMTPA, UTF8SMTPSA.
  std::string with_protocol() const;
  unsigned errors() const { return errors_; }
  // The state for people (shicks-top, session list): connected, greeted, auth,
  // mail, data, starttls, delivering, closed.
  const char* state_name() const;

 private:
  enum class State { fresh, greeted, in_mail, auth_plain, auth_login, data, tls, delivering, closed };

  struct VerbRow;                 // the verb table: protocol.cpp
  static const VerbRow kVerbs[];  // in the order HELP lists the verbs
  static const VerbRow& row(Verb v);
  std::optional<Reply> check(const VerbRow& v) const;

  Action send(Reply r);
  Action close(Reply r, CloseReason why);
  Action fail(Reply r);  // counts toward the error budget
  // The handlers, one per verb (the proceed step).
  Action on_helo(const Command& c);
  Action on_ehlo(const Command& c);
  Action greet(const Command& c, bool extended);
  Action on_mail(const Command& c);
  Action on_rcpt(const Command& c);
  Action on_data(const Command& c);
  Action on_bdat(const Command& c);
  Action on_rset(const Command& c);
  Action on_noop(const Command& c);
  Action on_quit(const Command& c);
  Action on_help(const Command& c);
  Action on_vrfy(const Command& c);
  Action on_expn(const Command& c);
  Action on_starttls(const Command& c);
  Action on_auth(const Command& c);
  bool plaintext_auth_allowed() const;
  // Whether EHLO lists the keyword of STARTTLS, AUTH.
  bool starttls_offered() const;
  bool auth_offered() const;
  std::vector<std::string> ehlo_lines() const;
  void reset_transaction();

  Policy policy_;
  State state_ = State::fresh;
  bool tls_ = false;
  bool esmtp_ = false;
  std::string helo_;
  std::string user_;
  unsigned errors_ = 0;
  Transaction tx_;
  Recipient pending_rcpt_;  // waiting for on_recipient()
  bool pending_postmaster_ = false;
  Command pending_mail_;    // waiting for on_sender_checked()
  auth::LoginExchange login_;
};

}  // namespace shicks::smtp
