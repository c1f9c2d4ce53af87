#include "server/daemon/control_status.hpp"

#include <chrono>
#include <cmath>

#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>
#include <nlohmann/json.hpp>

#include "common/log.hpp"
#include "control/protocol.hpp"
#include "server/daemon/control_admin.hpp"
#include "server/daemon/control_json.hpp"
#include "server/store/admin_store.hpp"
#include "server/store/schema.hpp"
#include "shicks/version.hpp"

namespace shicks::daemon::commands {
using nlohmann::json;
using asio::local::stream_protocol;

namespace {

struct Probe {
  std::string server_version;
  std::uint64_t relay_queue = 0;
};
// A job for async_run: a named type, so nothing is built inside a co_await.
struct ProbeJob {
  Probe operator()(store::Connection& c) const {
    store::ping(c);
    Probe p;
    p.server_version = c.server_version();
    p.relay_queue = admin::queue_length(c);
    return p;
  }
};

json database_json(const services::ServerContext& server, const store::DbResult<Probe>& db) {
  json d = {{"mode", server.cfg.database.mode == config::DatabaseMode::managed ? "managed" : "external"},
            {"name", server.cfg.database.name},
            {"state", db ? "up" : "down"},
            {"queue_depth", server.pool.queue_depth()},
            {"workers", server.pool.threads()}};
  if (db) {
    d["server_version"] = db->server_version;
    d["relay_queue"] = db->relay_queue;
  } else {
    d["error"] = db.error().message;
  }
  return d;
}

json stats_json(const services::ServerContext& server, const store::DbResult<Probe>& db) {
  json listeners = json::array();
  for (const auto& l : server.stats.listeners()) {
    json entry = {{"protocol", l.protocol}, {"address", l.address}};
    listeners.push_back(std::move(entry));
  }
  json counters = json::object();
  for (const auto& [name, value] : server.stats.counters()) counters[name] = value;
  return {{"version", kVersion},
          {"hostname", server.cfg.server.hostname},
          {"uptime_seconds", server.stats.uptime_seconds()},
          {"listeners", std::move(listeners)},
          {"database", database_json(server, db)},
          {"connections_open", server.stats.connections_open.load()},
          {"connections_total", server.stats.connections_total.load()},
          {"counters", std::move(counters)}};
}

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string activity_line(const services::StatsEvent& e) {
  json fields = json::array();
  for (const auto& [k, v] : e.fields) {
    json pair = {k, v};
    fields.push_back(std::move(pair));
  }
  json j = {{"v", control::kProtocolVersion}, {"event", "activity"}, {"seq", e.seq},
            {"time_ms", e.unix_ms},           {"type", e.type},       {"fields", std::move(fields)}};
  return answers::dump(j) + "\n";
}

std::string snapshot_line(const services::ServerContext& server, const store::DbResult<Probe>& db) {
  json j = stats_json(server, db);
  j["v"] = control::kProtocolVersion;
  j["event"] = "snapshot";
  j["time_ms"] = now_ms();
  j["sessions"] = open_sessions(server);
  return answers::dump(j) + "\n";
}

// Reads (and ignores) whatever the client sends until it closes its end.
asio::awaitable<void> watch_reader(stream_protocol::socket& sock) {
  char buf[512];
  for (;;) {
    auto [ec, n] = co_await sock.async_read_some(asio::buffer(buf), asio::experimental::as_tuple(asio::use_awaitable));
    if (ec) co_return;
  }
}

asio::awaitable<void> watch_writer(stream_protocol::socket& sock, std::chrono::milliseconds interval,
                                   std::uint64_t seq, services::ServerContext& server) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  for (;;) {
    std::string out;
    for (const auto& e : server.stats.events_after(seq)) {
      out += activity_line(e);
      seq = e.seq;
    }
    ProbeJob job;
    auto db = co_await store::async_run(server.pool, std::move(job), asio::use_awaitable);
    out += snapshot_line(server, db);
    auto [ec, n] = co_await asio::async_write(sock, asio::buffer(out), asio::experimental::as_tuple(asio::use_awaitable));
    if (ec) co_return;
    timer.expires_after(interval);
    auto [tec] = co_await timer.async_wait(asio::experimental::as_tuple(asio::use_awaitable));
    if (tec) co_return;
  }
}

}  // namespace

Result ping(const Args&, Control&, Log&) { return json{{"pong", true}, {"version", kVersion}}; }

asio::awaitable<Result> status(const Args&, Control& ctl, Log&) {
  ProbeJob job;
  auto db = co_await store::async_run(ctl.server.pool, std::move(job), asio::use_awaitable);
  Result answered = stats_json(ctl.server, db);
  co_return answered;
}

asio::awaitable<void> watch(stream_protocol::socket& sock, std::int64_t id, const Args& args, Control& ctl,
                            const PeerCred& peer, const std::string& sid) {
  using namespace asio::experimental::awaitable_operators;
  services::Stats& stats = ctl.server.stats;
  auto interval = std::chrono::milliseconds(std::llround(args.number("interval_seconds", 1.0) * 1000));
  std::uint64_t since = args.opt_whole("since_seq").value_or(stats.last_event_seq());
  log::Event(log::Level::info, sid, "control.watch").kv("user", peer.user).kv("pid", peer.pid)
      .kv("interval_ms", interval.count());
  control::Response resp;
  resp.id = id;
  resp.ok = true;
  json r = {{"interval_seconds", double(interval.count()) / 1000.0}, {"last_event_seq", stats.last_event_seq()}};
  resp.result_json = answers::dump(r);
  std::string out = control::encode_response(resp);
  co_await asio::async_write(sock, asio::buffer(out), asio::use_awaitable);
  auto reader = watch_reader(sock);
  auto writer = watch_writer(sock, interval, since, ctl.server);
  auto race = std::move(reader) || std::move(writer);
  co_await std::move(race);
  log::Event(log::Level::info, sid, "control.watch_end").kv("user", peer.user).kv("pid", peer.pid);
}

}  // namespace shicks::daemon::commands
