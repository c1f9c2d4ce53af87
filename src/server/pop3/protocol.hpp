#pragma once
// The RFC 1939 server state machine, without sockets, database or clock.
//
// The session driver (pop3/session.cpp) frames lines with mail::LineReader, hands
// each to on_line(), and carries out the Action it gets back: write `reply`, or do a
// side effect (check a password, take the mailbox lease and load the snapshot, start
// TLS, stream a message, delete the marked messages) and report the outcome through
// the matching on_*() method, which returns the next Action.
//
// States (RFC 1939 3): AUTHORIZATION until a login succeeds and the maildrop is
// loaded, TRANSACTION until QUIT, UPDATE while the driver deletes the marked
// messages. The protocol holds the snapshot taken at login (numbers 1..n, sizes,
// UIDLs, deletion marks) and answers STAT, LIST, UIDL, DELE, RSET and NOOP itself.
//
// Every reply is rendered wire text: CRLF-terminated lines, a multi-line response
// already ending in ".\r\n". No reply echoes client bytes.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "server/auth/sasl.hpp"
#include "server/pop3/command.hpp"

namespace shicks::pop3 {

// Fixed for one connection.
struct Policy {
  std::string hostname;
  bool implicit_tls = false;   // pop3s: the connection is encrypted from the start
  bool tls_available = false;  // a certificate is loaded: STLS can be offered
  bool peer_loopback = false;
  bool plaintext_auth_on_loopback = true;
  unsigned max_errors = 10;  // -ERR replies before the connection is closed
};

// One message of the snapshot, as the store lists it at login.
struct MaildropEntry {
  std::uint64_t id = 0;     // the store's key; opaque here, handed back in actions
  std::uint64_t size = 0;   // octets as RETR sends them before byte-stuffing (CRLF ends)
  std::string uidl;         // RFC 1939 7: 1..70 octets in 0x21..0x7E, unique, never changes
};

struct Action {
  enum Kind {
    send,           // write `reply`, read the next line
    close,          // write `reply`, then close (no deletions; release the lease if held)
    authenticate,   // verify `credentials` (throttled) -> on_auth_result()
    load_maildrop,  // take the mailbox lease of user() and list it -> on_maildrop_loaded()
    start_tls,      // write `reply`, discard buffered plaintext (or drop the
                    // connection if the client sent any), handshake -> on_tls_started()
    retrieve,       // stream message `message` (id `message_id`): write `reply`
                    // ("+OK ..."), then the body through a DotStuffer(top_lines) and
                    // its finish(). If the body cannot be read before `reply` was
                    // written, write on_retrieve_failed().reply instead; if it fails
                    // midway, close the connection (nothing else can be said).
    update,         // QUIT in TRANSACTION (UPDATE state): delete `deleted_ids` in one
                    // transaction -> on_update_done()
  } kind = send;
  std::string reply;
  auth::Credentials credentials;          // authenticate
  std::size_t message = 0;                // retrieve: 0-based index into the snapshot
  std::uint64_t message_id = 0;           // retrieve: MaildropEntry::id
  std::int64_t top_lines = -1;            // retrieve: -1 for RETR, n for TOP msg n
  std::vector<std::uint64_t> deleted_ids; // update: may be empty
};

class Protocol {
 public:
  explicit Protocol(Policy policy);

  std::string greeting() const;  // "+OK Shicks POP3 ready" (no APOP timestamp)
  Action on_line(std::string_view line);
  Action on_line_too_long();

  // ok: the credentials are right (the user name is the one of the authenticate action).
  // banned: throttled before checking. temp_failure: the database did not answer.
  enum class AuthOutcome { ok, bad_credentials, banned, temp_failure };
  Action on_auth_result(AuthOutcome outcome);

  // The outcome of load_maildrop. in_use: another session holds the lease.
  // After this returns, the driver holds the lease iff in_transaction().
  struct MaildropLoad {
    enum Kind { ok, in_use, temp_failure } kind = ok;
    std::vector<MaildropEntry> messages;
  };
  Action on_maildrop_loaded(MaildropLoad load);

  // The handshake succeeded: back to a fresh AUTHORIZATION state (RFC 2595 4);
  // nothing is sent.
  void on_tls_started();

  // The body of a retrieve action could not be read (nothing was written yet).
  Action on_retrieve_failed();

  // The deletions of the update action committed (ok) or not; either way the
  // connection closes.
  Action on_update_done(bool ok);

  // Server shutdown and the autologout timer (RFC 1939 3: at least 10 minutes).
  // The driver writes these and closes; nothing is deleted.
  std::string shutdown_reply() const;
  std::string timeout_reply() const;

  enum class State { authorization, transaction, update, closed };
  State state() const { return state_; }
  // authorization, transaction, update, closed (for shicks-top and session list).
  const char* state_name() const;
  bool in_transaction() const { return state_ == State::transaction; }
  bool tls_active() const { return tls_; }
  // Is a SASL response line expected next (RFC 5034 4: may exceed 255 octets)?
  bool awaiting_sasl_response() const { return sasl_pending_; }
  const std::string& user() const { return user_; }  // set once authenticated
  const std::vector<MaildropEntry>& snapshot() const { return messages_; }
  bool marked_deleted(std::size_t index) const { return deleted_[index]; }
  unsigned errors() const { return errors_; }
  // Non-deleted messages and their total size (STAT).
  std::uint64_t live_count() const;
  std::uint64_t live_octets() const;

 private:
  Action send(std::string reply);
  Action close(std::string reply);
  Action fail(std::string reply);  // counts toward the error budget
  Action dispatch(const Command& c);
  Action on_user(const Command& c);
  Action on_pass(const Command& c, bool after_user);
  Action on_auth(const Command& c);
  Action on_sasl_response(std::string_view line);
  Action on_capa();
  Action on_stls();
  Action on_quit();
  Action on_stat();
  Action on_list_or_uidl(const Command& c, bool uidl);
  Action on_retr_or_top(const Command& c, bool top);
  Action on_dele(const Command& c);
  Action on_rset();
  Action authenticate(auth::Credentials creds);
  bool plaintext_allowed() const;
  // Parses a message-number argument: the 0-based index of a live message, or the
  // -ERR reply to send.
  Expected<std::size_t, std::string> message_index(std::string_view arg) const;

  Policy policy_;
  State state_ = State::authorization;
  bool tls_ = false;
  bool sasl_pending_ = false;
  std::string user_;           // USER name, then the authenticated user
  bool user_given_ = false;    // the previous command was a successful USER
  unsigned errors_ = 0;
  std::vector<MaildropEntry> messages_;
  std::vector<bool> deleted_;
};

}  // namespace shicks::pop3
