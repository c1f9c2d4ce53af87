#include "server/daemon/listeners.hpp"

#include <sys/resource.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>

#include <asio/co_spawn.hpp>
#include <asio/ip/v6_only.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/redirect_error.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/ssl/stream.hpp>
#include <asio/steady_timer.hpp>
#include <asio/strand.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>
#include <fmt/core.h>

#include "common/log.hpp"
#include "server/net/endpoint.hpp"
#include "server/net/spawn.hpp"
#include "server/net/stream.hpp"
#include "server/pop3/session.hpp"
#include "server/services/connection.hpp"
#include "server/smtp/session.hpp"
#include "server/store/schema.hpp"

namespace shicks::daemon {
using asio::ip::tcp;
using namespace asio::experimental::awaitable_operators;
using namespace std::chrono_literals;

const char* service_name(Service s) {
  switch (s) {
    case Service::smtp: return "smtp";
    case Service::submission: return "submission";
    case Service::smtps: return "smtps";
    case Service::pop3: return "pop3";
    case Service::pop3s: return "pop3s";
  }
  return "?";
}

const char* service_title(Service s) {
  switch (s) {
    case Service::smtp: return "SMTP server";
    case Service::submission: return "submission server";
    case Service::smtps: return "SMTPS server";
    case Service::pop3: return "POP3 server";
    case Service::pop3s: return "POP3S server";
  }
  return "?";
}

bool implicit_tls(Service s) { return s == Service::smtps || s == Service::pop3s; }

namespace {
bool is_pop3(Service s) { return s == Service::pop3 || s == Service::pop3s; }

const char* config_key(Service s) {
  switch (s) {
    case Service::smtp: return "smtp.listen";
    case Service::submission: return "smtp.submission_listen";
    case Service::smtps: return "smtp.smtps_listen";
    case Service::pop3: return "pop3.listen";
    case Service::pop3s: return "pop3.pop3s_listen";
  }
  return "?";
}

constexpr std::size_t kSmtpKind = 0, kPop3Kind = 1;

// A connection beyond a cap is answered by a short coroutine of its own. At most
// this many are under way at once; beyond that a refused connection is closed
// without a reply, so that a flood cannot hold descriptors through its refusals.
constexpr unsigned kMaxRefusals = 32;
// The refusal's TLS handshake (SMTPS, POP3S) and its write, each.
constexpr auto kRefusalTimeout = 5s;

// Descriptors that are not mail connections: the listeners, the control socket and
// its clients, the database connections, the relay client, the refusals under way,
// and room for the log, epoll, the managed database's pipes and the like.
std::uint64_t other_descriptors(const config::Config& cfg, std::size_t listeners) {
  return listeners + 1 + cfg.control.max_clients + cfg.database.pool_size + 8 + kMaxRefusals + 64;
}

// server.max_connections, checked against the open-files limit (which shicksd has
// raised to its hard limit by now): a cap above what the descriptors allow would end
// in failing accept() calls instead of clean refusals. Set in the file, such a cap is
// an error; the default is lowered to fit, with a warning.
unsigned effective_max_connections(const config::Config& cfg, std::size_t listeners) {
  unsigned wanted = cfg.server.max_connections;
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY) return wanted;
  std::uint64_t limit = rl.rlim_cur;
  std::uint64_t others = other_descriptors(cfg, listeners);
  if (std::uint64_t(wanted) + others <= limit) return wanted;
  if (cfg.lines.count("server.max_connections"))
    throw StartupError(fmt::format(
        "{}server.max_connections: {} connections need about {} open files, but the limit is {} (raise it, "
        "e.g. LimitNOFILE= in the service unit, or lower server.max_connections)",
        cfg.where("server.max_connections"), wanted, std::uint64_t(wanted) + others, limit));
  unsigned fits = limit > others + 1 ? unsigned(limit - others) : 1;
  log::warn("limits.max_connections")
      .kv("configured", wanted)
      .kv("effective", fits)
      .kv("open_files_limit", limit)
      .kv("reason", "the open-files limit is too low for the default server.max_connections");
  return fits;
}

const char* cap_reached(net::ConnectionCaps::Refusal r, Service svc) {
  if (r == net::ConnectionCaps::Refusal::total) return "server.max_connections reached";
  return is_pop3(svc) ? "pop3.max_connections reached" : "smtp.max_connections reached";
}

// RFC 5321 3.1: 421 instead of the greeting; RFC 2449 / 3206: -ERR [SYS/TEMP].
// Implicit-TLS listeners answer after the handshake, so that the client can read it.
// A client that resets meanwhile only ends this coroutine.
asio::awaitable<void> refuse(tcp::socket sock, Service svc, services::ServerContext& ctx, net::ConnectionCaps::Slot refusal) {
  net::Stream conn(std::move(sock), ctx.tls ? *ctx.tls : services::no_tls_context());
  std::string reply;
  if (is_pop3(svc)) reply = "-ERR [SYS/TEMP] Too many connections, try again later\r\n";
  else reply = fmt::format("421 4.7.0 {} Error: too many connections, try again later\r\n", ctx.cfg.server.hostname);
  try {
    bool readable = true;
    if (implicit_tls(svc)) {
      std::string err;
      readable = co_await conn.handshake(kRefusalTimeout, err);
    }
    if (readable) co_await conn.write(reply, kRefusalTimeout);
  } catch (const std::system_error&) {
    // The client is gone already.
  }
  conn.close();
  refusal.release();
}

}  // namespace

struct Listeners::Bound {
  Service service;
  std::string address;
  tcp::acceptor acceptor;
  Bound(asio::io_context& io, Service s, std::string a) : service(s), address(std::move(a)), acceptor(io) {}
};

Listeners::Listeners(services::ServerContext& ctx)
    : ctx_(ctx), io_(ctx.io), cfg_(ctx.cfg), stats_(ctx.stats), tls_(ctx.tls) {}

Listeners::~Listeners() { close(); }

void Listeners::bind_all() {
  auto add = [&](Service svc, const std::vector<ListenAddress>& addrs) {
    for (const auto& la : addrs) {
      auto b = std::make_unique<Bound>(io_, svc, la.to_string());
      std::error_code ec;
      tcp::endpoint ep(asio::ip::make_address(la.ip.to_string()), la.port);
      b->acceptor.open(ep.protocol(), ec);
      if (ec && la.ip.v6 && ec == asio::error::address_family_not_supported) {
        // "[::]" in the production defaults on a host without IPv6.
        log::warn("listen.skipped").kv("service", service_name(svc)).kv("address", b->address).kv("reason", "no IPv6");
        continue;
      }
      if (!ec) b->acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
      if (!ec && la.ip.v6) b->acceptor.set_option(asio::ip::v6_only(true), ec);
      if (!ec) b->acceptor.bind(ep, ec);
      if (!ec) b->acceptor.listen(asio::socket_base::max_listen_connections, ec);
      if (ec)
        throw StartupError(fmt::format("{}{}: cannot listen on {}: {}", cfg_.where(config_key(svc)),
                                              config_key(svc), b->address, ec.message()));
      bound_.push_back(std::move(b));
    }
  };
  if ((!cfg_.smtp.smtps_listen.empty() || !cfg_.pop3.pop3s_listen.empty()) && !tls_)
    throw StartupError("implicit-TLS listeners are configured but no TLS certificate is loaded");
  std::size_t addresses = cfg_.smtp.listen.size() + cfg_.smtp.submission_listen.size() +
                          cfg_.smtp.smtps_listen.size() + cfg_.pop3.listen.size() + cfg_.pop3.pop3s_listen.size();
  caps_ = net::ConnectionCaps::make(effective_max_connections(cfg_, addresses),
                                    {cfg_.smtp.max_connections, cfg_.pop3.max_connections});
  refusing_ = net::ConnectionCaps::make(kMaxRefusals, {kMaxRefusals});
  add(Service::smtp, cfg_.smtp.listen);
  add(Service::submission, cfg_.smtp.submission_listen);
  add(Service::smtps, cfg_.smtp.smtps_listen);
  add(Service::pop3, cfg_.pop3.listen);
  add(Service::pop3s, cfg_.pop3.pop3s_listen);
}

namespace {
struct Caps {
  std::shared_ptr<net::ConnectionCaps> connections, refusals;
};

// A connection beyond a cap: logged, counted, answered (when a refusal is free) and
// closed.
void turn_away(tcp::socket sock, Service svc, net::ConnectionCaps::Refusal why, services::ServerContext& ctx, const Caps& caps,
               const asio::strand<asio::io_context::executor_type>& strand) {
  ctx.stats.connections_refused++;
  std::string sid = ctx.stats.next_session_id(is_pop3(svc) ? 'p' : 's');
  std::error_code ec;
  auto ep = sock.remote_endpoint(ec);
  std::string peer = ec ? std::string("?") : net::endpoint_text(ep);
  auto refusal = caps.refusals->acquire(0);
  log::Event(log::Level::warn, sid, is_pop3(svc) ? "pop3.refused" : "smtp.refused")
      .kv("service", service_name(svc))
      .kv("peer", peer)
      .kv("reason", cap_reached(why, svc))
      .kv("reply", refusal ? "sent" : "none (too many refusals under way)");
  if (!refusal) {
    sock.close(ec);
    return;
  }
  auto task = refuse(std::move(sock), svc, ctx, std::move(refusal));
  net::spawn(strand, std::move(task), sid + " refusal");
}

// Four fifths of a cap are in use: sessions waiting for a command are told, so that
// those that have waited longer than server.stress_timeout_seconds end now. Said at
// most once a second however often the count goes up and down around the level.
void stress_began(const net::ConnectionCaps& caps, services::ServerContext& ctx) {
  if (ctx.cfg.server.stress_timeout_seconds == 0) return;
  static std::atomic<std::int64_t> last_ms{0};
  const std::int64_t now_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
  std::int64_t last = last_ms.load();
  if (now_ms - last < 1000 || !last_ms.compare_exchange_strong(last, now_ms)) return;
  log::warn("connections.stress")
      .kv("open", caps.open())
      .kv("smtp", caps.open(kSmtpKind))
      .kv("pop3", caps.open(kPop3Kind))
      .kv("timeout_seconds", ctx.cfg.server.stress_timeout_seconds);
  ctx.stats.connections_stress++;
  ctx.sessions.poke_all();
}

asio::awaitable<void> accept_loop(tcp::acceptor& acceptor, Service svc, services::ServerContext& ctx, Caps caps) {
  for (;;) {
    // Each session runs on a strand of its own, so a shutdown notice posted to it
    // never races the session's own I/O.
    auto strand = asio::make_strand(ctx.io);
    auto [ec, sock] = co_await acceptor.async_accept(strand, asio::experimental::as_tuple(asio::use_awaitable));
    if (ec == asio::error::operation_aborted || !acceptor.is_open()) co_return;
    if (ec) {
      log::warn("accept.failed").kv("service", service_name(svc)).kv("error", ec.message());
      // EMFILE and friends: back off instead of spinning.
      asio::steady_timer t(acceptor.get_executor());
      t.expires_after(100ms);
      co_await t.async_wait(asio::use_awaitable);
      continue;
    }
    // The slot is held from here to the end of the session (its TLS handshake
    // included): it lives in the session's coroutine frame.
    auto slot = caps.connections->acquire(is_pop3(svc) ? kPop3Kind : kSmtpKind);
    if (!slot) {
      turn_away(std::move(sock), svc, slot.refusal(), ctx, caps, strand);
      continue;
    }
    if (slot.began_stress()) stress_began(*caps.connections, ctx);
    if (is_pop3(svc)) {
      std::string sid = ctx.stats.next_session_id('p');
      auto task = pop3::run_session(std::move(sock), svc == Service::pop3s, sid, ctx, std::move(slot));
      net::spawn(strand, std::move(task), sid);
      continue;
    }
    std::string sid = ctx.stats.next_session_id('s');
    smtp::Listener l = svc == Service::smtp ? smtp::Listener::mx
                       : svc == Service::submission ? smtp::Listener::submission
                                                    : smtp::Listener::smtps;
    auto task = smtp::run_session(std::move(sock), l, sid, ctx, std::move(slot));
    net::spawn(strand, std::move(task), sid);
  }
}
}  // namespace

void Listeners::start() {
  for (auto& b : bound_) {
    auto loop = accept_loop(b->acceptor, b->service, ctx_, Caps{caps_, refusing_});
    net::spawn(io_.get_executor(), std::move(loop), std::string("accept ") + b->address);
    stats_.add_listener({service_name(b->service), b->address});
    log::info("listen").kv("service", service_name(b->service)).kv("address", b->address);
    std::printf("%s is up & running on %s\n", service_title(b->service), b->address.c_str());
  }
  std::fflush(stdout);
}

void Listeners::close() {
  for (auto& b : bound_) {
    std::error_code ec;
    b->acceptor.close(ec);
  }
}

}  // namespace shicks::daemon
