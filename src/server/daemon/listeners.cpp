#include "server/daemon/listeners.hpp"

#include <chrono>
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
#include "server/pop3/session.hpp"
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

}  // namespace

struct Listeners::Bound {
  Service service;
  std::string address;
  tcp::acceptor acceptor;
  Bound(asio::io_context& io, Service s, std::string a) : service(s), address(std::move(a)), acceptor(io) {}
};

Listeners::Listeners(ServerContext& ctx)
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
        throw store::StartupError(fmt::format("{}{}: cannot listen on {}: {}", cfg_.where(config_key(svc)),
                                              config_key(svc), b->address, ec.message()));
      bound_.push_back(std::move(b));
    }
  };
  if ((!cfg_.smtp.smtps_listen.empty() || !cfg_.pop3.pop3s_listen.empty()) && !tls_)
    throw store::StartupError("implicit-TLS listeners are configured but no TLS certificate is loaded");
  add(Service::smtp, cfg_.smtp.listen);
  add(Service::submission, cfg_.smtp.submission_listen);
  add(Service::smtps, cfg_.smtp.smtps_listen);
  add(Service::pop3, cfg_.pop3.listen);
  add(Service::pop3s, cfg_.pop3.pop3s_listen);
}

namespace {
asio::awaitable<void> accept_loop(tcp::acceptor& acceptor, Service svc, ServerContext& ctx) {
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
    if (is_pop3(svc)) {
      std::string sid = ctx.stats.next_session_id('p');
      auto task = pop3::run_session(std::move(sock), svc == Service::pop3s, sid, ctx);
      net::spawn(strand, std::move(task), sid);
      continue;
    }
    std::string sid = ctx.stats.next_session_id('s');
    smtp::Listener l = svc == Service::smtp ? smtp::Listener::mx
                       : svc == Service::submission ? smtp::Listener::submission
                                                    : smtp::Listener::smtps;
    auto task = smtp::run_session(std::move(sock), l, sid, ctx);
    net::spawn(strand, std::move(task), sid);
  }
}
}  // namespace

void Listeners::start() {
  for (auto& b : bound_) {
    auto loop = accept_loop(b->acceptor, b->service, ctx_);
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
