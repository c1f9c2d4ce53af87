#include "server/net/stream.hpp"

#include <openssl/ssl.h>

#include <variant>

#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>
#include <fmt/core.h>

namespace shicks::net {
using asio::ip::tcp;
using namespace asio::experimental::awaitable_operators;
namespace exp = asio::experimental;

Stream::TlsStream& Stream::tls_layer() {
  if (!tls_stream_) tls_stream_ = std::make_unique<TlsStream>(sock_, *ctx_);
  return *tls_stream_;
}

std::string Stream::tls_description() {
  if (!tls_stream_) return std::string();
  SSL* ssl = tls_stream_->native_handle();
  return fmt::format("{} {}", SSL_get_version(ssl), SSL_get_cipher_name(ssl));
}

namespace {
// The outcome of an I/O operation raced against a timer.
template <class Variant>
std::size_t settle(Variant& res, std::error_code& ec) {
  if (res.index() == 1) {
    ec = asio::error::timed_out;
    return 0;
  }
  auto [e, n] = std::get<0>(res);
  ec = e;
  return n;
}
}  // namespace

asio::awaitable<std::size_t> Stream::read_some(char* buf, std::size_t n, std::chrono::milliseconds limit,
                                               std::error_code& ec) {
  asio::steady_timer timer(sock_.get_executor());
  timer.expires_after(limit);
  auto wait = timer.async_wait(exp::as_tuple(asio::use_awaitable));
  read_timer_ = &timer;
  std::size_t got = 0;
  if (tls_) {
    auto rd = tls_stream_->async_read_some(asio::buffer(buf, n), exp::as_tuple(asio::use_awaitable));
    auto race = std::move(rd) || std::move(wait);
    auto res = co_await std::move(race);
    got = settle(res, ec);
  } else {
    auto rd = sock_.async_read_some(asio::buffer(buf, n), exp::as_tuple(asio::use_awaitable));
    auto race = std::move(rd) || std::move(wait);
    auto res = co_await std::move(race);
    got = settle(res, ec);
  }
  read_timer_ = nullptr;
  co_return counted_in(got);
}

void Stream::interrupt_read() {
  if (read_timer_) read_timer_->cancel();
}

asio::awaitable<void> Stream::write(std::string_view data, std::chrono::milliseconds limit) {
  asio::steady_timer timer(sock_.get_executor());
  timer.expires_after(limit);
  auto wait = timer.async_wait(exp::as_tuple(asio::use_awaitable));
  std::error_code ec;
  if (tls_) {
    auto wr = asio::async_write(*tls_stream_, asio::buffer(data), exp::as_tuple(asio::use_awaitable));
    auto race = std::move(wr) || std::move(wait);
    auto res = co_await std::move(race);
    settle(res, ec);
  } else {
    auto wr = asio::async_write(sock_, asio::buffer(data), exp::as_tuple(asio::use_awaitable));
    auto race = std::move(wr) || std::move(wait);
    auto res = co_await std::move(race);
    settle(res, ec);
  }
  if (ec) throw std::system_error(ec, ec == asio::error::timed_out ? "write timed out" : "write");
  if (info_) info_->add_out(data.size());
}

std::size_t Stream::counted_in(std::size_t n) {
  if (info_) info_->add_in(n);
  return n;
}

asio::awaitable<bool> Stream::handshake(std::chrono::milliseconds limit, std::string& error) {
  return run_handshake(asio::ssl::stream_base::server, limit, error);
}

asio::awaitable<bool> Stream::client_handshake(const std::string& server_name, std::chrono::milliseconds limit,
                                               std::string& error) {
  SSL* ssl = tls_layer().native_handle();
  if (!server_name.empty()) SSL_set_tlsext_host_name(ssl, server_name.c_str());
  bool ok = co_await run_handshake(asio::ssl::stream_base::client, limit, error);
  long verify = SSL_get_verify_result(ssl);
  if (!ok && verify != X509_V_OK) error += fmt::format(" ({})", X509_verify_cert_error_string(verify));
  co_return ok;
}

asio::awaitable<bool> Stream::run_handshake(asio::ssl::stream_base::handshake_type type,
                                            std::chrono::milliseconds limit, std::string& error) {
  asio::steady_timer timer(sock_.get_executor());
  timer.expires_after(limit);
  auto hs = tls_layer().async_handshake(type, exp::as_tuple(asio::use_awaitable));
  auto wait = timer.async_wait(exp::as_tuple(asio::use_awaitable));
  auto race = std::move(hs) || std::move(wait);
  auto res = co_await std::move(race);
  if (res.index() == 1) {
    error = "TLS handshake timed out";
    co_return false;
  }
  auto [ec] = std::get<0>(res);
  if (ec) {
    error = ec.message();
    co_return false;
  }
  tls_ = true;
  if (info_) info_->set_tls();
  co_return true;
}

void Stream::close() {
  std::error_code ec;
  sock_.shutdown(tcp::socket::shutdown_both, ec);
  sock_.close(ec);
}

}  // namespace shicks::net
