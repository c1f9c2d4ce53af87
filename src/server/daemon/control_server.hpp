#pragma once
// The control socket: a unix stream socket speaking the protocol of
// src/control/protocol.hpp. Every peer is checked with SO_PEERCRED: root, the
// daemon's own user, or members of [control] group may act; others are refused.
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace shicks::services {
struct ServerContext;
}

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
  // The commands act on `server` (the same context the sessions share); `reload` is
  // what `shicksctl reload` runs (SIGHUP's work). `server` outlives this object.
  ControlServer(services::ServerContext& server, std::function<void()> reload);
  ~ControlServer();

  // Replaces a stale socket file, refuses when a live daemon answers on it, binds,
  // sets mode 0660 and the group. Throws StartupError.
  void bind();
  void start();  // prints "control socket is up & running on PATH"
  void close();  // stops accepting and removes the socket file

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace shicks::daemon
