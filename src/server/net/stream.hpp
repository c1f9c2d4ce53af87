#pragma once
// A client connection of the SMTP and POP3 sessions: plaintext until STARTTLS/STLS
// (or TLS from the start on smtps/pop3s), every read and write bounded in time so a
// peer that stops reading or writing cannot hold a session forever.
#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>

#include <asio/awaitable.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/ssl/context.hpp>
#include <asio/ssl/stream.hpp>
#include <asio/steady_timer.hpp>

#include "server/net/session_info.hpp"

namespace shicks::net {

class Stream {
 public:
  Stream(asio::ip::tcp::socket sock, asio::ssl::context& ctx) : sock_(std::move(sock)), ctx_(&ctx) {}

  asio::ip::tcp::socket& socket() { return sock_; }
  bool tls() const { return tls_; }
  std::string tls_description();  // "TLSv1.3 TLS_AES_256_GCM_SHA384"

  // Reads some bytes; ec = asio::error::timed_out when `limit` passes first.
  asio::awaitable<std::size_t> read_some(char* buf, std::size_t n, std::chrono::milliseconds limit,
                                         std::error_code& ec);
  // On the stream's strand: ends a read_some() under way at once as if its limit had
  // passed (nothing is read; the caller decides whether to read again). No-op when no
  // read is under way.
  void interrupt_read();
  // Writes all of `data`; throws std::system_error (timed_out when `limit` passes).
  asio::awaitable<void> write(std::string_view data, std::chrono::milliseconds limit);

  // Server side of the handshake, bounded in time. False (and `error`) on failure.
  asio::awaitable<bool> handshake(std::chrono::milliseconds limit, std::string& error);
  // Client side (the relay client): `server_name` (if not empty) goes out as SNI; the context's
  // verification settings apply. A failed verification names its reason in `error`.
  asio::awaitable<bool> client_handshake(const std::string& server_name, std::chrono::milliseconds limit,
                                         std::string& error);

  void close();
  // Counts the bytes read and written (after TLS) and notes the handshake there.
  void publish_to(std::shared_ptr<SessionInfo> info) { info_ = std::move(info); }

 private:
  asio::awaitable<bool> run_handshake(asio::ssl::stream_base::handshake_type type, std::chrono::milliseconds limit,
                                      std::string& error);

  // The TLS layer is made at the first handshake: an SSL object and its two record
  // buffers cost some 40 KiB, which a plaintext connection (most of them) never needs.
  using TlsStream = asio::ssl::stream<asio::ip::tcp::socket&>;
  TlsStream& tls_layer();

  asio::ip::tcp::socket sock_;
  asio::ssl::context* ctx_;
  std::unique_ptr<TlsStream> tls_stream_;
  bool tls_ = false;
  std::shared_ptr<SessionInfo> info_;
  asio::steady_timer* read_timer_ = nullptr;  // the limit of the read_some() under way
  std::size_t counted_in(std::size_t n);
};

}  // namespace shicks::net
