#pragma once
// The control socket's commands (what shicksctl and shicks-top ask for): each one
// checks its arguments, runs its store job on a DB worker and builds the answer.
// control_server.cpp owns the socket, the peer check and the framing.
//
// Requests are {"v":1,"id":N,"cmd":"user.add","args":{...}}; the command names and
// their arguments are listed in control_commands.cpp (kCommands). Every request
// that changes something is logged (who, what; never a password).
#include <functional>
#include <string>

#include <asio/awaitable.hpp>
#include <asio/local/stream_protocol.hpp>

#include "control/protocol.hpp"
#include "server/config/config.hpp"
#include "server/daemon/control_server.hpp"
#include "server/services/stats.hpp"
#include "server/net/session_registry.hpp"
#include "server/store/db_pool.hpp"

namespace shicks::auth {
class Throttle;
}

namespace shicks::services {
class AddressCache;
class SettingsCache;
class SpamCache;
}  // namespace shicks::services

namespace shicks::daemon {

struct CommandContext {
  const config::Config& cfg;
  services::Stats& stats;
  store::DbPool& pool;
  services::SettingsCache* settings;  // told about settings written here (may be null)
  std::function<void()> reload;
  services::SpamCache* spam = nullptr;  // refreshed after keyword changes made here; spam.test (may be null)
  net::SessionRegistry* sessions = nullptr;  // the SMTP and POP3 sessions (session.list, session.kill)
  std::function<void()> wake_relay;  // may be empty
  services::AddressCache* addresses = nullptr;  // cleared after every mutating command (may be null)
  auth::Throttle* throttle = nullptr;  // auth.bans, auth.unban (may be null)
};

// Answers one request (any command but `watch`).
asio::awaitable<control::Response> run_command(const control::Request& req, const PeerCred& peer,
                                               const std::string& sid, CommandContext& ctx);

// `watch`: answers the request, then streams stats snapshots and events on `sock`
// until the client closes the connection or the socket is closed (shutdown). The
// stream's format is described in control_commands.cpp.
asio::awaitable<void> run_watch(asio::local::stream_protocol::socket& sock, const control::Request& req,
                                const PeerCred& peer, const std::string& sid, CommandContext& ctx);

}  // namespace shicks::daemon
