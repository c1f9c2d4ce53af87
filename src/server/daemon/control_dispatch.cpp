#include "server/daemon/control_dispatch.hpp"

#include <optional>

#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>
#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include "common/log.hpp"
#include "control/protocol.hpp"
#include "server/daemon/control_admin.hpp"
#include "server/daemon/control_json.hpp"
#include "server/daemon/control_status.hpp"

namespace shicks::daemon {
using nlohmann::json;
using asio::local::stream_protocol;
using namespace commands;

namespace {

// name, mutating, arguments, handler (its type is the kind: local, db, async, stream)
const Command kCommands[] = {
    {"ping", false, {others_ignored()}, ping},
    {"status", false, {others_ignored()}, status},
    {"watch", false, {opt_number("interval_seconds", 0.1, 3600), opt_whole_number("since_seq")}, watch},
    {"reload", true, {others_ignored()}, reload},
    {"user.add", true, {text("name"), text("password"), opt_text_list("addresses")}, user_add},
    {"user.del", true, {text("name")}, user_del},
    {"user.list", false, {}, user_list},
    {"user.show", false, {text("name")}, user_show},
    {"user.passwd", true, {text("name"), text("password")}, user_passwd},
    {"user.enable", true, {text("name")}, user_enable},
    {"user.disable", true, {text("name")}, user_disable},
    {"address.add", true, {text("address"), text_list("users")}, address_add},
    {"address.del", true, {text("address")}, address_del},
    {"address.list", false, {opt_text("user")}, address_list},
    {"mailbox.list", false, {text("user")}, mailbox_list},
    {"mailbox.purge", true, {text("user")}, mailbox_purge},
    {"relay.show", false, {}, relay_show},
    {"relay.set", true,
     {text("host"), opt_text("port"), opt_text("tls"), opt_text("username"), opt_text("password"),
      opt_text("allow_plaintext_auth")},
     relay_set},
    {"relay.clear", true, {}, relay_clear},
    // Changes nothing, but sends to the relay with the stored password: logged at info.
    {"relay.test", true, {}, relay_test},
    {"spam.add", true, {text_list("keywords")}, spam_add},
    {"spam.del", true, {text_list("keywords")}, spam_del},
    {"spam.list", false, {}, spam_list},
    {"spam.import", true, {text_list("keywords")}, spam_import},
    {"spam.test", false, {text("subject")}, spam_test},
    {"queue.list", false, {}, queue_list},
    {"queue.show", false, {whole_number("id")}, queue_show},
    {"queue.flush", true, {}, queue_flush},
    {"queue.del", true, {whole_number("id")}, queue_del},
    {"session.list", false, {}, session_list},
    {"session.kill", true, {text("id")}, session_kill},
    {"auth.bans", false, {}, auth_bans},
    {"auth.unban", true, {text("ip")}, auth_unban},
    {"config.list", false, {}, config_list},
    {"config.get", false, {text("key")}, config_get},
    {"config.set", true, {text("key"), text("value")}, config_set},
};

std::string db_failure_text(const store::DbFailure& f) {
  if (f.outcome_unknown)
    return fmt::format("the database connection broke during the change; it may or may not have been made ({})",
                       f.message);
  switch (f.kind) {
    case store::DbFailure::busy: return "the database is busy; try again";
    case store::DbFailure::stopped: return "shicksd is shutting down";
    case store::DbFailure::unavailable: return fmt::format("the database is unavailable: {}", f.message);
    case store::DbFailure::no_space: return fmt::format("the database's disk is full: {}", f.message);
    case store::DbFailure::failed: break;
  }
  return fmt::format("database error: {}", f.message);
}

// A job for async_run: a named type, so nothing is built inside a co_await.
struct RunJob {
  Job job;
  Result operator()(store::Connection& c) const { return job(c); }
};

// What became of a request, for its answer and its log line.
struct Outcome {
  const char* result = "ok";  // ok | refused | failed | bad-arguments | unknown-command
  std::optional<json> answer;
  std::string error;
};

Outcome refusal(const char* result, std::string error) { return {result, std::nullopt, std::move(error)}; }

Outcome from(Result r) {
  if (!r) return refusal("refused", std::move(r.error()));
  return {"ok", std::move(*r), {}};
}

void log_request(const std::string& cmd, bool mutating, const Outcome& o, const Log& what, const PeerCred& peer,
                 const std::string& sid) {
  bool ok = o.answer.has_value();
  log::Event ev(mutating || !ok ? log::Level::info : log::Level::debug, sid, "control.request");
  ev.kv("cmd", cmd).kv("user", peer.user).kv("pid", peer.pid);
  for (const auto& [k, v] : what.fields) ev.kv(k, v);
  ev.kv("result", ok && !what.result.empty() ? what.result : std::string(o.result));
  if (!ok) ev.kv("reason", o.error);
  else if (!what.reason.empty()) ev.kv("reason", what.reason);
}

// Runs a checked request of any kind but stream.
asio::awaitable<Outcome> run(const Command& cmd, const Args& args, Control& ctl, Log& what) {
  switch (cmd.kind()) {
    case Kind::local: co_return from(std::get<LocalHandler>(cmd.handler)(args, ctl, what));
    case Kind::async: {
      auto task = std::get<AsyncHandler>(cmd.handler)(args, ctl, what);
      auto r = co_await std::move(task);
      co_return from(std::move(r));
    }
    case Kind::db: {
      RunJob job{std::get<DbHandler>(cmd.handler)(args, ctl, what)};
      auto r = co_await store::async_run(ctl.server.pool, std::move(job), asio::use_awaitable);
      // Users and addresses may have changed: this daemon's remembered recipient
      // lookups go at once (other daemons notice the change counter).
      if (cmd.mutating) ctl.server.addresses.clear();
      if (!r) co_return refusal("failed", db_failure_text(r.error()));
      co_return from(std::move(*r));
    }
    case Kind::stream: break;
  }
  co_return refusal("failed", "internal error: a stream command run as a request");
}

asio::awaitable<void> send(stream_protocol::socket& sock, const std::string& out) {
  co_await asio::async_write(sock, asio::buffer(out), asio::use_awaitable);
}

}  // namespace

std::span<const Command> control_commands() { return kCommands; }

const Command* find_command(std::string_view name) {
  for (const auto& c : kCommands)
    if (name == c.name) return &c;
  return nullptr;
}

asio::awaitable<bool> dispatch(stream_protocol::socket& sock, std::string_view line, const PeerCred& peer,
                               const std::string& sid, Control& ctl) {
  ctl.server.stats.control_requests++;
  auto req = control::decode_request(line);
  if (!req) {
    std::string out = control::encode_error(0, req.error());
    co_await send(sock, out);
    co_return true;
  }
  json args = json::parse(req->args_json, nullptr, false);
  if (!args.is_object()) args = json::object();  // decode_request guarantees an object
  Log what;
  Outcome outcome;
  const Command* cmd = find_command(req->cmd);
  if (!cmd) {
    outcome = refusal("unknown-command", fmt::format("unknown command \"{}\"", req->cmd));
  } else if (auto bad = check_args(cmd->name, cmd->args, args)) {
    outcome = refusal("bad-arguments", std::move(*bad));
  } else if (cmd->kind() == Kind::stream) {
    // The request is answered by the stream, which lasts as long as the client stays.
    outcome.answer = json::object();
    log_request(cmd->name, cmd->mutating, outcome, what, peer, sid);
    Args checked(args);
    auto stream = std::get<StreamHandler>(cmd->handler)(sock, req->id, checked, ctl, peer, sid);
    co_await std::move(stream);
    co_return false;
  } else {
    Args checked(args);
    try {
      auto task = run(*cmd, checked, ctl, what);
      outcome = co_await std::move(task);
    } catch (const nlohmann::json::exception& e) {
      outcome = refusal("bad-arguments", fmt::format("bad arguments: {}", e.what()));
    }
  }
  log_request(cmd ? std::string(cmd->name) : req->cmd, cmd && cmd->mutating, outcome, what, peer, sid);
  control::Response resp;
  resp.id = req->id;
  resp.ok = outcome.answer.has_value();
  if (resp.ok) resp.result_json = answers::dump(*outcome.answer);
  else resp.error = outcome.error;
  std::string out = control::encode_response(resp);
  co_await send(sock, out);
  co_return true;
}

}  // namespace shicks::daemon
