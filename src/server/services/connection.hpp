#pragma once
// One client connection of an SMTP or POP3 session, and what both protocols do with
// it the same way: the registered run (counted in connections_open/total, listed for
// `session.list`, told about shutdown and `session.kill`), implicit TLS, the per-IP
// slot, the reply queue and its flush, reads into the line reader, the end reason,
// the STARTTLS/STLS upgrade and the logging of a password login. The protocol's own
// dialogue is a Conversation that the connection runs.
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>

#include <asio/awaitable.hpp>
#include <asio/ip/tcp.hpp>

#include "common/log.hpp"
#include "server/mail/line_reader.hpp"
#include "server/net/connection_caps.hpp"
#include "server/net/session_info.hpp"
#include "server/net/stream.hpp"
#include "server/services/context.hpp"
#include "server/services/login.hpp"

namespace shicks::services {

// A place in a ConnectionLimiter for one address, given back when destroyed.
class PeerSlot {
 public:
  PeerSlot(ConnectionLimiter& limiter, std::string ip)
      : limiter_(&limiter), ip_(std::move(ip)), held_(limiter.acquire(ip_)) {}
  ~PeerSlot() {
    if (held_) limiter_->release(ip_);
  }
  PeerSlot(const PeerSlot&) = delete;
  PeerSlot& operator=(const PeerSlot&) = delete;
  // False: the address has all the connections it may have.
  explicit operator bool() const { return held_; }

 private:
  ConnectionLimiter* limiter_;
  std::string ip_;
  bool held_;
};

// The protocol's side of a connection.
class Conversation {
 public:
  virtual ~Conversation() = default;
  // The dialogue, from the greeting on. Broken sockets and other failures are thrown;
  // the connection catches them and ends with the exception's text as the reason.
  virtual asio::awaitable<void> converse() = 0;
  // After converse() has ended, however: gives back what the session holds.
  virtual asio::awaitable<void> finish() { co_return; }
  // At shutdown and kill, on the session's strand, after the socket is cancelled:
  // stops what else the session may be waiting for.
  virtual void stopping() {}
  // Protocol errors counted, for the disconnect line.
  virtual unsigned errors() const = 0;
};

class Connection {
 public:
  using Clock = std::chrono::steady_clock;
  struct Kind {
    const char* protocol;  // "smtp" or "pop3": the prefix of the event names
    const char* service;   // "smtp", "submission", "smtps", "pop3", "pop3s"
    bool implicit_tls;     // SMTPS, POP3S: the handshake comes first
    ConnectionLimiter* limiter;
    std::string busy_reply;  // the reply to a client whose address has all its connections
    std::chrono::seconds write_timeout;  // a client that does not take our output within this is gone
  };

  // Without a certificate in ctx, STARTTLS/STLS must not be offered (no_tls_context()
  // stands in).
  Connection(asio::ip::tcp::socket sock, ServerContext& ctx, std::string sid, Kind kind);
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // The whole life of the connection: registered and counted from start to end,
  // the implicit TLS handshake, the per-IP slot (a refusal beyond it), then the
  // conversation, its finish(), the close and the disconnect line. Never throws.
  // `slot` (the listeners' caps) is held until the end.
  asio::awaitable<void> run(Conversation& conversation, net::ConnectionCaps::Slot slot);

  const std::string& sid() const { return sid_; }
  const std::string& peer() const { return peer_; }        // "192.0.2.1:50123", "?" when unknown
  const std::string& peer_ip() const { return peer_ip_; }  // unmapped, "?" when unknown
  bool tls() const { return stream_.tls(); }
  std::string tls_description() { return stream_.tls_description(); }
  net::Stream& stream() { return stream_; }
  net::SessionInfo& info() { return *info_; }
  asio::any_io_executor executor() { return stream_.socket().get_executor(); }

  // "smtp.<what>" / "pop3.<what>", with the session id.
  log::Event event(log::Level level, std::string_view what) const;

  // ---- replies: queued, written by flush() (RFC 2920, RFC 2449 pipelining)
  void queue(std::string_view text) { out_ += text; }
  std::size_t queued() const { return out_.size(); }
  std::string& output() { return out_; }  // for output built in place (dot-stuffing)
  asio::awaitable<void> flush();          // throws std::system_error when the client is gone

  // ---- input: read some bytes into `reader`, or ec = asio::error::timed_out.
  // The wait for one command is bounded as a whole: `limit` counts from the end of
  // the previous command (command_done()), and bytes that dribble in do not extend
  // it. Under stress (net/connection_caps.hpp) the bound is stress_timeout_seconds
  // instead, when shorter; a session is told when stress begins, so a wait already
  // under way is cut short too.
  asio::awaitable<void> read_command(mail::LineReader& reader, std::chrono::milliseconds limit, std::error_code& ec);
  // The previous command has been carried out: the wait for the next one begins.
  void command_done() { command_started_ = Clock::now(); }
  // While a message is received (SMTP DATA): each read within `limit`; under stress
  // also the whole message, which began at `started` and has `received` bytes so far,
  // within stress_timeout_seconds plus one second for every kStressDataRate bytes.
  asio::awaitable<void> read_data(mail::LineReader& reader, std::chrono::steady_clock::time_point started,
                                  std::uint64_t received, std::chrono::milliseconds limit, std::error_code& ec);
  // One read, bounded by `limit` alone.
  asio::awaitable<void> read(mail::LineReader& reader, std::chrono::milliseconds limit, std::error_code& ec);
  // Whether the last timed_out came from the stress bound rather than the normal one.
  bool stress_timed_out() const { return stress_timed_out_; }
  static constexpr std::uint64_t kStressDataRate = 500;  // bytes per second, as Postfix's smtpd_min_data_rate

  // ---- why the session ends ("quit" unless said otherwise)
  void end(std::string reason) { end_reason_ = std::move(reason); }
  // A failed read: "client-closed" for the end of the stream, else its message.
  void end_on(const std::error_code& ec);
  const std::string& end_reason() const { return end_reason_; }

  // ---- shutdown and `session.kill` (on the session's strand, from the registry)
  bool shutting_down() const { return shutting_down_; }
  bool killed() const { return killed_; }

  // STARTTLS / STLS, once the reply that allows it has been flushed: plaintext the
  // client sent behind the command is discarded (RFC 3207 5, RFC 2595 4,
  // CVE-2011-0411) and logged as `injection_event`, then the handshake, bounded by
  // tls.handshake_timeout_seconds. False (the end reason says why): the session ends.
  asio::awaitable<bool> upgrade_tls(mail::LineReader& reader, std::string_view injection_event);

  // A password login (services::login) with its failures logged as
  // <protocol>.auth_banned / auth_error / auth_failed; on success the user is
  // published for `session.list`.
  asio::awaitable<LoginOutcome> login(std::string username, std::string password);

 private:
  void request_shutdown();
  void kill();
  bool under_stress() const;
  // The TLS handshake's limit: tls.handshake_timeout_seconds, under stress at most
  // stress_timeout_seconds.
  std::chrono::seconds handshake_limit() const;
  asio::awaitable<void> read_until(mail::LineReader& reader, Clock::time_point normal, Clock::time_point stressed,
                                   std::error_code& ec);
  asio::awaitable<void> refuse_busy();
  void log_tls();

  ServerContext& ctx_;
  std::string sid_;
  Kind kind_;
  net::Stream stream_;
  std::string peer_ = "?", peer_ip_ = "?";
  std::shared_ptr<net::SessionInfo> info_;
  std::string out_;
  std::string end_reason_ = "quit";
  bool shutting_down_ = false;
  bool killed_ = false;
  Conversation* conversation_ = nullptr;  // while run() runs
  const net::ConnectionCaps::Slot* slot_ = nullptr;  // while run() runs
  Clock::time_point command_started_ = Clock::now();
  bool stress_timed_out_ = false;
  char buf_[16384];
};

// The TLS context sessions use when no certificate is loaded: never handshakes.
asio::ssl::context& no_tls_context();

// A login's outcome in the terms of a protocol's state machine (smtp::Protocol and
// pop3::Protocol name their AuthOutcome alike).
template <class AuthOutcome>
AuthOutcome auth_outcome(LoginOutcome::Kind kind) {
  switch (kind) {
    case LoginOutcome::ok: return AuthOutcome::ok;
    case LoginOutcome::bad_credentials: return AuthOutcome::bad_credentials;
    case LoginOutcome::banned: return AuthOutcome::banned;
    case LoginOutcome::temp_failure: return AuthOutcome::temp_failure;
  }
  return AuthOutcome::temp_failure;
}

}  // namespace shicks::services
