#pragma once
// The smarthost client's protocol logic (RFC 5321 client side, STARTTLS RFC 3207,
// AUTH RFC 4954, PIPELINING RFC 2920, SIZE RFC 1870, 8BITMIME RFC 6152, SMTPUTF8
// RFC 6531). Pure code: it never touches a socket or a clock. The driver
// (smtp_client.cpp) asks it what to do next and reports what happened:
//
//   Step s = client.start();
//   loop: send  -> write s.data, then read one reply -> s = client.on_reply(reply)
//         read  -> read one reply                    -> s = client.on_reply(reply)
//         start_tls -> TLS handshake                 -> s = client.on_tls_ready()
//         send_body -> stream the dot-stuffed message, then read one reply
//         ready -> s = client.begin(envelope) or client.quit()
//         message_done -> take_results(); then as ready
//         closed / failed -> close the connection
//
// A failure of the connection (I/O error, timeout, unparsable reply) is the driver's
// to notice; abort() then turns the message in progress into results.
#include <chrono>
#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include "server/relay/reply_parser.hpp"

namespace shicks::relay {

enum class TlsMode { none, starttls, implicit };
// "none", "starttls", "tls" (the relay.tls setting); anything else -> starttls.
TlsMode parse_tls_mode(std::string_view s);

struct ClientOptions {
  std::string helo_name;               // our host name (server.hostname)
  TlsMode tls = TlsMode::starttls;
  std::string username;                // AUTH when not empty
  std::string password;
  // AUTH over a connection without TLS (relay.tls none): only to a loopback relay or
  // with relay.allow_plaintext_auth (config::check_relay_auth).
  bool allow_plaintext_auth = false;
  std::string relay_host;              // for the refusal's text
};

// What the server announced in its EHLO reply (RFC 5321 4.1.1.1).
struct Extensions {
  bool esmtp = false;  // EHLO was answered (HELO fallback: false)
  bool starttls = false;
  bool pipelining = false;
  bool eightbitmime = false;
  bool smtputf8 = false;
  bool size = false;
  std::uint64_t size_limit = 0;  // 0: no limit announced
  bool auth_plain = false;
  bool auth_login = false;
  bool auth = false;  // AUTH with any mechanism
};
Extensions parse_ehlo(const ServerReply& r);

struct Envelope {
  std::string sender;                  // "" for the null sender
  std::vector<std::string> recipients;
  std::uint64_t size = 0;              // octets of the message (SIZE=)
};

enum class Outcome { delivered, temporary, permanent };

struct RecipientResult {
  std::string recipient;
  Outcome outcome = Outcome::temporary;
  std::string status;      // enhanced status code: from the reply, or ours
  std::string diagnostic;  // the server's reply ("550 5.1.1 ...") or what went wrong here
  bool remote = false;     // diagnostic is a reply of the relay (DSN: "smtp;" vs "X-Shicks;")
};

struct Step {
  enum Kind { send, read, start_tls, send_body, ready, message_done, closed, failed } kind = failed;
  std::string data;         // send: the bytes to write
  std::string label;        // send: what is sent, for `relay test` (credentials hidden)
  std::chrono::seconds timeout{300};  // send/read/send_body: how long to wait for the reply
  std::string error;        // failed: why
};

class Client {
 public:
  explicit Client(ClientOptions opts);

  Step start();  // the connection is open (and, for implicit TLS, the handshake done)
  Step on_reply(const ServerReply& r);
  Step on_tls_ready();
  Step begin(const Envelope& env);  // only when the last step was ready/message_done
  Step quit();

  // The per-recipient results of the message that just ended (message_done).
  std::vector<RecipientResult> take_results();
  // The connection failed: every recipient of the message in progress without a
  // final answer yet is a temporary failure with `why`; answers already given stay.
  std::vector<RecipientResult> abort(const std::string& why);

  bool tls_active() const { return tls_active_; }
  bool in_message() const { return in_message_; }
  // False once the session can carry no further message (a failed RSET).
  bool reusable() const { return reusable_; }
  const Extensions& extensions() const { return ext_; }

 private:
  enum class Expect { greeting, ehlo, helo, starttls, auth, auth_login_user, auth_login_pass, mail, rcpt, data,
                      data_end, dot_only, rset, quit };

  Step send(std::string line, Expect e, std::chrono::seconds timeout, std::string label = {});
  Step fail(std::string why);
  Step next_after_reply();
  Step after_hello();
  Step authenticate();
  Step finish_message();  // the transaction is over: RSET when one is open, then done
  void settle(std::size_t i, const ServerReply& r);
  void settle_all(const ServerReply& r);       // every recipient not settled yet
  void settle_accepted(const ServerReply& r);  // the recipients the server accepted
  bool any_accepted() const;
  std::string rcpt_line(std::size_t i) const;

  ClientOptions opts_;
  Extensions ext_;
  bool tls_active_ = false;
  bool helo_tried_ = false;
  bool reusable_ = true;
  std::deque<Expect> expect_;

  // the message in progress
  bool in_message_ = false;
  Envelope env_;
  bool mail_ok_ = false;
  bool mail_failed_ = false;
  bool body_sent_ = false;
  std::size_t next_rcpt_ = 0;  // without PIPELINING: the next RCPT to send
  std::size_t rcpt_reply_ = 0; // the next RCPT reply to expect
  std::vector<RecipientResult> results_;
  std::vector<bool> settled_;
  std::vector<bool> accepted_;
};

}  // namespace shicks::relay
