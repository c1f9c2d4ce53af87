#include "server/services/connection.hpp"

#include <algorithm>
#include <exception>

#include <asio/ssl/error.hpp>
#include <fmt/core.h>

#include "server/net/endpoint.hpp"

namespace shicks::services {
using asio::ip::tcp;
using namespace std::chrono_literals;

namespace {
// The refusal of a client whose address has all its connections gets this long.
constexpr auto kBusyReplyTimeout = 10s;
}  // namespace

asio::ssl::context& no_tls_context() {
  static asio::ssl::context unused(asio::ssl::context::tls_server);
  return unused;
}

Connection::Connection(tcp::socket sock, ServerContext& ctx, std::string sid, Kind kind)
    : ctx_(ctx), sid_(std::move(sid)), kind_(std::move(kind)), stream_(std::move(sock), ctx.tls ? *ctx.tls : no_tls_context()) {
  std::error_code ec;
  auto ep = stream_.socket().remote_endpoint(ec);
  if (!ec) {  // a client that reset before this is "?" (and fails its greeting)
    peer_ip_ = net::unmapped(ep.address()).to_string();
    peer_ = net::endpoint_text(ep);
  }
  info_ = std::make_shared<net::SessionInfo>(sid_, kind_.service, peer_);
  stream_.publish_to(info_);
}

log::Event Connection::event(log::Level level, std::string_view what) const {
  std::string name = fmt::format("{}.{}", kind_.protocol, what);
  return log::Event(level, sid_, name);
}

asio::awaitable<void> Connection::run(Conversation& conversation, net::ConnectionCaps::Slot slot) {
  conversation_ = &conversation;
  // Counted and registered however the connection ends; the registry's callbacks
  // run on this strand and only while the registration lives (this frame).
  auto on_shutdown = [this] { request_shutdown(); };
  auto on_kill = [this] { kill(); };
  auto on_poke = [this] { stream_.interrupt_read(); };
  net::Registration registration(ctx_.sessions, ctx_.sessions.add(executor(), on_shutdown, info_, on_kill, on_poke));
  slot_ = &slot;
  OpenConnection counted(ctx_.stats);
  try {
    if (kind_.implicit_tls) {
      // TLS first, so that even the refusal below reaches the client readably.
      std::string err;
      bool ok = co_await stream_.handshake(handshake_limit(), err);
      if (!ok) {
        event(log::Level::info, "disconnect").kv("service", kind_.service).kv("peer", peer_).kv("reason", "tls: " + err);
        stream_.close();
        co_return;
      }
    }
    PeerSlot per_ip(*kind_.limiter, peer_ip_);
    if (!per_ip) {
      co_await refuse_busy();
      co_return;
    }
    event(log::Level::info, "connect").kv("service", kind_.service).kv("peer", peer_);
    if (stream_.tls()) log_tls();
    try {
      co_await conversation.converse();
    } catch (const std::exception& e) {
      end_reason_ = e.what();
    }
    co_await conversation.finish();
  } catch (const std::exception& e) {
    // Only finish() (or a log line) gets here; the connection still ends in order.
    end_reason_ = e.what();
  }
  stream_.close();
  if (killed_) end_reason_ = "killed";
  event(log::Level::info, "disconnect").kv("reason", end_reason_).kv("errors", conversation.errors());
  conversation_ = nullptr;
  slot_ = nullptr;
  slot.release();
}

// Logged and counted; the reply is sent if the client still takes it.
asio::awaitable<void> Connection::refuse_busy() {
  event(log::Level::warn, "refused").kv("peer", peer_).kv("reason", "too many connections from this address");
  ctx_.stats.connections_refused_per_ip++;
  try {
    co_await stream_.write(kind_.busy_reply, kBusyReplyTimeout);
  } catch (const std::exception&) {
    // The client is gone already.
  }
  stream_.close();
}

asio::awaitable<void> Connection::flush() {
  if (out_.empty()) co_return;
  std::string data;
  data.swap(out_);
  co_await stream_.write(data, kind_.write_timeout);
}

asio::awaitable<void> Connection::read(mail::LineReader& reader, std::chrono::milliseconds limit, std::error_code& ec) {
  std::size_t n = co_await stream_.read_some(buf_, sizeof buf_, limit, ec);
  if (!ec) reader.feed(std::string_view(buf_, n));
}

bool Connection::under_stress() const {
  return ctx_.cfg.server.stress_timeout_seconds > 0 && slot_ && slot_->stressed();
}

std::chrono::seconds Connection::handshake_limit() const {
  std::chrono::seconds limit(ctx_.cfg.tls.handshake_timeout_seconds);
  if (under_stress()) limit = std::min(limit, std::chrono::seconds(ctx_.cfg.server.stress_timeout_seconds));
  return limit;
}

asio::awaitable<void> Connection::read_command(mail::LineReader& reader, std::chrono::milliseconds limit,
                                               std::error_code& ec) {
  const auto stress = std::chrono::seconds(ctx_.cfg.server.stress_timeout_seconds);
  co_await read_until(reader, command_started_ + limit, command_started_ + stress, ec);
}

asio::awaitable<void> Connection::read_data(mail::LineReader& reader, Clock::time_point started, std::uint64_t received,
                                            std::chrono::milliseconds limit, std::error_code& ec) {
  const auto stress = std::chrono::seconds(ctx_.cfg.server.stress_timeout_seconds + received / kStressDataRate);
  co_await read_until(reader, Clock::now() + limit, started + stress, ec);
}

// Reads once, by `normal` or, under stress, by the earlier of the two. A poke (stress
// began) or a limit that passed ends the read early; the bound is then worked out
// again, so a poke only shortens the wait when the server is under stress.
asio::awaitable<void> Connection::read_until(mail::LineReader& reader, Clock::time_point normal,
                                             Clock::time_point stressed, std::error_code& ec) {
  for (;;) {
    const bool stress = under_stress() && stressed < normal;
    const auto until = stress ? stressed : normal;
    const auto now = Clock::now();
    if (now >= until) {
      ec = asio::error::timed_out;
      stress_timed_out_ = stress;
      if (stress) ctx_.stats.connections_stress_timeouts++;
      co_return;
    }
    auto wait = std::chrono::ceil<std::chrono::milliseconds>(until - now);
    std::size_t n = co_await stream_.read_some(buf_, sizeof buf_, wait, ec);
    if (ec == asio::error::timed_out) continue;
    if (!ec) reader.feed(std::string_view(buf_, n));
    co_return;
  }
}

void Connection::end_on(const std::error_code& ec) {
  end_reason_ = (ec == asio::error::eof || ec == asio::ssl::error::stream_truncated) ? "client-closed" : ec.message();
}

void Connection::request_shutdown() {
  shutting_down_ = true;
  std::error_code ec;
  stream_.socket().cancel(ec);
  if (conversation_) conversation_->stopping();
}

// `session.kill`: the connection ends at once, without a reply.
void Connection::kill() {
  killed_ = true;
  std::error_code ec;
  stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
  stream_.socket().cancel(ec);
  if (conversation_) conversation_->stopping();
}

asio::awaitable<bool> Connection::upgrade_tls(mail::LineReader& reader, std::string_view injection_event) {
  if (reader.buffered() > 0) {
    event(log::Level::warn, injection_event).kv("discarded_bytes", reader.buffered());
    reader.clear();
  }
  std::string err;
  bool ok = co_await stream_.handshake(handshake_limit(), err);
  if (!ok) {
    end_reason_ = "tls: " + err;
    co_return false;
  }
  log_tls();
  co_return true;
}

void Connection::log_tls() { event(log::Level::info, "tls").kv("cipher", stream_.tls_description()); }

asio::awaitable<LoginOutcome> Connection::login(std::string username, std::string password) {
  std::string name = username;
  auto r = co_await services::login(ctx_, kind_.protocol, peer_ip_, std::move(username), std::move(password));
  switch (r.kind) {
    case LoginOutcome::banned:
      event(log::Level::warn, "auth_banned").kv("peer_ip", peer_ip_).kv("retry_after", r.retry_after.count());
      break;
    case LoginOutcome::temp_failure:
      event(log::Level::warn, "auth_error").kv("error", r.error);
      break;
    case LoginOutcome::bad_credentials:
      event(log::Level::warn, "auth_failed").kv("login", name).kv("peer_ip", peer_ip_);
      break;
    case LoginOutcome::ok:
      info_->set_user(r.user);
      break;
  }
  co_return r;
}

}  // namespace shicks::services
