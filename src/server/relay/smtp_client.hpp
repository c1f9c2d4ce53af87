#pragma once
// One SMTP session with the smarthost on ASIO: the thin driver around relay::Client
// (client.hpp). It connects, runs TLS (implicit or STARTTLS, the certificate and the
// host name verified unless relay.tls_verify is false), reads replies with
// ReplyParser, streams message bodies from the database dot-stuffed, and bounds
// every step in time: by the RFC 5321 timeout of the command, by `step_cap`, and by
// `deadline` (the end of the runner's claim lease, which must never pass while the
// runner is still sending).
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>

#include "server/relay/client.hpp"

namespace shicks::store {
class DbPool;
}

namespace shicks::relay {

struct RelaySettings {
  std::string host;  // empty: no relay
  unsigned port = 25;
  TlsMode tls = TlsMode::starttls;
  bool verify = true;
  std::string username;
  std::string password;
  bool allow_plaintext_auth = false;  // relay.allow_plaintext_auth
  std::string helo_name;  // server.hostname
};

// What `relay test` reports: one entry per step, with the server's reply lines.
struct TranscriptEntry {
  std::string step;                // "connect", "greeting", "EHLO mx.example.org", "TLS", ...
  bool ok = true;
  std::vector<std::string> lines;  // "250-relay.example", or what happened
};

class SmtpSession {
 public:
  using Clock = std::chrono::steady_clock;
  SmtpSession(asio::any_io_executor ex, RelaySettings settings, Clock::time_point deadline,
              std::chrono::seconds step_cap = std::chrono::seconds(0));
  ~SmtpSession();
  SmtpSession(const SmtpSession&) = delete;
  SmtpSession& operator=(const SmtpSession&) = delete;

  // Connects and runs the session up to the first MAIL (greeting, EHLO, STARTTLS,
  // AUTH). False on failure; error() says why.
  asio::awaitable<bool> open();
  // Sends one message whose body is read chunk by chunk through `pool`. One result
  // per recipient, in order; a broken connection defers what had no final answer.
  asio::awaitable<std::vector<RecipientResult>> send(const Envelope& env, store::DbPool& pool,
                                                     std::uint64_t message_id, std::uint64_t chunk_count);
  // QUIT (errors ignored), then close.
  asio::awaitable<void> quit();
  // Closes the connection at once (shutdown); pending operations fail.
  void close();

  bool usable() const;  // open, and fit for another message
  const std::string& error() const;
  // Records every step when set (relay test).
  void record(std::vector<TranscriptEntry>* transcript);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// `relay test`: connect, greet, EHLO, STARTTLS, AUTH and QUIT with the given
// settings, recording each step; no message is sent.
struct RelayTestReport {
  bool ok = false;
  std::string error;
  std::vector<TranscriptEntry> steps;
};
asio::awaitable<RelayTestReport> test_relay(RelaySettings settings);

}  // namespace shicks::relay
