// services::Connection::run over a real loopback socket, with conversations that
// fail: whatever ends a conversation, the connection is closed, the counters and the
// registry are back where they were, the slots are given back and nothing escapes
// to the spawning completion handler (which would log coroutine.failed).
#include "server/services/connection.hpp"

#include <poll.h>

#include <optional>
#include <stdexcept>

#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <catch2/catch.hpp>

using namespace shicks;
using asio::ip::tcp;

namespace {

// Everything a ServerContext refers to; the database is never asked (nothing here
// logs in), so the pool points nowhere.
struct World {
  asio::io_context io;
  config::Config cfg;
  services::Stats stats;
  store::DbPool pool{store::ConnectOptions{"", 3306, "/nonexistent/mysql.sock", "", "", "", 1, 1, 1}, 1, 4};
  services::SettingsCache settings{pool};
  auth::Throttle throttle{auth::Throttle::Limits{}};
  services::ConnectionLimiter limiter{1};
  services::ConnectionLimiter pop3_limiter{1};
  net::SessionRegistry sessions;
  services::MaildropWaiters waiters;
  services::Pop3Leases leases{io, pool, settings, cfg};
  services::SpamCache spam{pool};
  store::DeliveryBatcher deliveries{pool};
  services::AddressCache addresses{pool};
  services::ServerContext ctx{io, cfg, stats, pool, settings, throttle, limiter, pop3_limiter, sessions,
                              waiters, leases, nullptr, spam, deliveries, addresses, {}};
  std::shared_ptr<net::ConnectionCaps> caps = net::ConnectionCaps::make(10, {10});
  tcp::acceptor acceptor{io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)};

  // A connected pair: the client's socket and the server's.
  std::pair<tcp::socket, tcp::socket> pair() {
    tcp::socket client(io);
    client.connect(acceptor.local_endpoint());
    tcp::socket server = acceptor.accept();
    return {std::move(client), std::move(server)};
  }

  services::Connection::Kind kind() {
    return {"smtp", "smtp", false, &limiter, "421 4.7.0 busy\r\n", std::chrono::seconds(5)};
  }
};

struct Throwing : services::Conversation {
  services::Connection& conn;
  bool finished = false;
  explicit Throwing(services::Connection& c) : conn(c) {}
  asio::awaitable<void> converse() override {
    conn.queue("220 hello\r\n");
    co_await conn.flush();
    throw std::logic_error("a broken invariant");
  }
  asio::awaitable<void> finish() override {
    finished = true;
    co_return;
  }
  unsigned errors() const override { return 0; }
};

// Runs conn.run(conversation) to its end; the exception that reached the spawner, if any.
std::exception_ptr run(World& w, services::Connection& conn, services::Conversation& conversation) {
  std::optional<std::exception_ptr> outcome;
  auto task = conn.run(conversation, w.caps->acquire(0));
  asio::co_spawn(w.io, std::move(task), [&](std::exception_ptr e) { outcome = e; });
  w.io.run();
  w.io.restart();
  REQUIRE(outcome.has_value());
  return *outcome;
}

// What the client receives until the server closes (or 5 s pass: then "(open)" is added).
std::string read_all(tcp::socket& client) {
  std::string got;
  for (;;) {
    pollfd p{client.native_handle(), POLLIN, 0};
    if (::poll(&p, 1, 5000) != 1) return got + "(open)";
    char buf[256];
    std::error_code ec;
    std::size_t n = client.read_some(asio::buffer(buf), ec);
    if (ec) return got;
    got.append(buf, n);
  }
}

void reset(tcp::socket& s) {
  s.set_option(asio::socket_base::linger(true, 0));
  std::error_code ec;
  s.close(ec);
}

}  // namespace

TEST_CASE("a conversation that throws ends like any other: counted, unregistered, closed", "[services]") {
  World w;
  auto [client, server] = w.pair();
  services::Connection conn(std::move(server), w.ctx, "s1", w.kind());
  Throwing talk(conn);
  CHECK_FALSE(run(w, conn, talk));
  CHECK(talk.finished);
  CHECK(w.stats.connections_total == 1);
  CHECK(w.stats.connections_open == 0);
  CHECK(w.sessions.size() == 0);
  CHECK(w.caps->open() == 0);
  CHECK(conn.end_reason() == "a broken invariant");
  // The per-address place is free again (the cap is 1).
  CHECK(w.limiter.acquire("127.0.0.1"));
  // The client got the greeting, then the end of the connection.
  CHECK(read_all(client) == "220 hello\r\n");
}

TEST_CASE("a refusal beyond the per-address cap to a client that reset is no failure", "[services]") {
  World w;
  REQUIRE(w.limiter.acquire("127.0.0.1"));  // the one place of the address is taken
  for (int i = 0; i < 3; ++i) {
    auto [client, server] = w.pair();
    services::Connection conn(std::move(server), w.ctx, "s2", w.kind());  // knows its peer
    reset(client);  // before the refusal is written
    Throwing talk(conn);
    CHECK_FALSE(run(w, conn, talk));
    CHECK_FALSE(talk.finished);  // refused: the conversation never started
  }
  CHECK(w.stats.connections_total == 3);
  CHECK(w.stats.connections_open == 0);
  CHECK(w.stats.connections_refused_per_ip >= 1);
  CHECK(w.sessions.size() == 0);
  CHECK(w.caps->open() == 0);
  w.limiter.release("127.0.0.1");
  CHECK(w.limiter.acquire("127.0.0.1"));  // the refusals took no place of their own
}

TEST_CASE("PeerSlot holds a place of its address while it lives", "[services]") {
  services::ConnectionLimiter limiter(2);
  {
    services::PeerSlot a(limiter, "192.0.2.1");
    services::PeerSlot b(limiter, "192.0.2.1");
    services::PeerSlot c(limiter, "192.0.2.1");
    services::PeerSlot other(limiter, "192.0.2.2");
    CHECK(a);
    CHECK(b);
    CHECK_FALSE(c);
    CHECK(other);
  }
  services::PeerSlot again(limiter, "192.0.2.1");
  services::PeerSlot twice(limiter, "192.0.2.1");
  CHECK(again);
  CHECK(twice);  // the refused one gave back nothing it did not hold
}
