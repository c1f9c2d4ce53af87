#pragma once
// The control socket: a unix stream socket speaking the protocol of
// src/control/protocol.hpp. Every peer is checked with SO_PEERCRED: root, the
// daemon's own user, or members of [control] group may act; others are refused.
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <asio/io_context.hpp>
#include <asio/local/stream_protocol.hpp>

#include "server/config/config.hpp"
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

struct PeerCred {
  int pid = -1;
  unsigned uid = 0;
  unsigned gid = 0;
  std::string user;                  // name of uid, or the number
  std::vector<unsigned> groups;      // supplementary groups of that user
};

// Whether `peer` may use the control socket (pure policy over its credentials).
// `group_gid` < 0 when the configured group does not exist.
bool peer_allowed(const PeerCred& peer, unsigned daemon_uid, long group_gid);

class ControlServer {
 public:
  // `settings` and `spam` (may be null) are told at once about settings and spam
  // keywords changed through the socket. `sessions`: the SMTP and POP3 sessions,
  // listed and ended through the socket.
  ControlServer(asio::io_context& io, const config::Config& cfg, services::Stats& stats, store::DbPool& pool,
                services::SettingsCache* settings, net::SessionRegistry& sessions, std::function<void()> reload,
                services::SpamCache* spam = nullptr);
  ~ControlServer();

  // Replaces a stale socket file, refuses when a live daemon answers on it, binds,
  // sets mode 0660 and the group. Throws StartupError.
  void bind();
  void start();  // prints "control socket is up & running on PATH"
  void close();  // stops accepting and removes the socket file
  // `queue flush` calls this after making the queue due (wakes the relay runner).
  void set_relay_wakeup(std::function<void()> wake);
  // Cleared after every mutating command (users and addresses may have changed).
  void set_address_cache(services::AddressCache* cache);
  // The failed-login throttle: `auth bans` lists it, `auth unban` lifts a ban.
  void set_throttle(auth::Throttle* throttle);

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace shicks::daemon
