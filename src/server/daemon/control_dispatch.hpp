#pragma once
// The control commands (what shicksctl and shicks-top ask for): one table, one row
// per command, and one function, dispatch(), that answers a request line with it.
//
// Requests are {"v":1,"id":N,"cmd":"user.add","args":{...}} (src/control/protocol.hpp).
// dispatch() decodes the line, finds the command's row, checks the arguments against
// the row's rules (control_args.hpp), runs the handler, turns a refusal or a database
// failure into the error answer (shicksctl exits 1 with it), and writes the one
// `control.request` log line:
//
//   control.request cmd=NAME user=PEER pid=PID [what was asked...] result=ok|refused|failed|bad-arguments
//                   [reason=THE ERROR]
//
// at level info for a mutating command or an error answer, debug otherwise. A
// password never appears in it.
//
// The handlers are in control_admin.cpp (users, addresses, mailboxes, relay, spam,
// queue, settings, sessions, auth) and control_status.cpp (ping, status, watch);
// control_server.cpp owns the socket, the peer check and the framing.
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include <asio/awaitable.hpp>
#include <asio/local/stream_protocol.hpp>
#include <nlohmann/json_fwd.hpp>

#include "common/expected.hpp"
#include "server/daemon/control_args.hpp"
#include "server/daemon/control_server.hpp"
#include "server/services/context.hpp"

namespace shicks::daemon {

// What the handlers have beyond the server context; owned by the ControlServer.
struct Control {
  services::ServerContext& server;
  std::function<void()> reload;  // `reload`: what SIGHUP does
};

using Result = Expected<nlohmann::json, std::string>;  // the answer, or the refusal

// What was asked, for the log line (never a password); filled by the handler.
struct Log {
  std::vector<std::pair<std::string, std::string>> fields;
  // A handler's own outcome for an answered request (relay.test: result=passed, or
  // result=failed with the reason); empty: "ok".
  std::string result, reason;
  void add(std::string key, std::string value) { fields.emplace_back(std::move(key), std::move(value)); }
};

// A DB worker runs it (store::async_run); a refusal is a value, DbError a failure.
using Job = std::function<Result(store::Connection&)>;

// How a command runs, and so what the handler returns:
//   local   answered on the network thread, without the database (must work while it is away)
//   db      returns a Job for a DB worker; a failed job is answered with the reason,
//           and after a mutating one this daemon's address cache is cleared
//   async   a coroutine on the network thread (it may await the pool or the network)
//   stream  answers the request itself, then streams on the socket until the client
//           leaves (the connection is then done)
using LocalHandler = Result (*)(const Args&, Control&, Log&);
using DbHandler = Job (*)(const Args&, Control&, Log&);
using AsyncHandler = asio::awaitable<Result> (*)(const Args&, Control&, Log&);
using StreamHandler = asio::awaitable<void> (*)(asio::local::stream_protocol::socket&, std::int64_t id, const Args&,
                                                Control&, const PeerCred&, const std::string& sid);
enum class Kind { local, db, async, stream };  // in the order of Command::handler's types

struct Command {
  const char* name;
  bool mutating;  // changes something (or acts with stored secrets): logged at info
  ArgRules args;  // checked before the handler runs
  std::variant<LocalHandler, DbHandler, AsyncHandler, StreamHandler> handler;
  Kind kind() const { return Kind(handler.index()); }  // the handler's type says it
};

// The table, in the order of shicksctl's help.
std::span<const Command> control_commands();
const Command* find_command(std::string_view name);

// Answers one request line on `sock`. Returns false when the connection is done (a
// `watch` stream ended).
asio::awaitable<bool> dispatch(asio::local::stream_protocol::socket& sock, std::string_view line,
                               const PeerCred& peer, const std::string& sid, Control& control);

}  // namespace shicks::daemon
