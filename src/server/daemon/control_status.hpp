#pragma once
// What the daemon is doing: `ping`, `status` and the `watch` stream of shicks-top.
// Their rows are in control_dispatch.cpp.
//
// The watch stream, one JSON object per line after the response:
//
//   {"v":1,"event":"snapshot","time_ms":1795500000000, ...the fields of `status`:
//    "version","hostname","uptime_seconds","listeners":[{"protocol","address"}],
//    "database":{"state":"up"|"down","mode","name","queue_depth","workers",
//                "server_version","relay_queue" | "error"},
//    "connections_open","connections_total","counters":{name: n},
//    "sessions":[...as session.list]}
//       every interval_seconds (the first one at once);
//   {"v":1,"event":"activity","seq":12,"time_ms":...,"type":"smtp.accepted",
//    "fields":[["from","a@example.org"],["size","1234"]]}
//       each event of the daemon's event ring (Stats::emit), oldest first, sent
//       before the next snapshot. `seq` grows by one per event; a gap means events
//       were dropped from the ring before this watcher saw them. `fields` keeps
//       the order in which they read best.
//
// Request arguments: "interval_seconds" (0.1 to 3600, default 1) and "since_seq"
// (default: the current last event, i.e. only new ones; 0 for the whole ring).
// The response result: {"interval_seconds":..,"last_event_seq":..}.
// The stream ends when the client closes its end (or at daemon shutdown).
#include <asio/awaitable.hpp>

#include "server/daemon/control_dispatch.hpp"

namespace shicks::daemon::commands {

Result ping(const Args&, Control&, Log&);                     // {"pong":true,"version"}
asio::awaitable<Result> status(const Args&, Control&, Log&);  // the snapshot's fields, without "sessions"
asio::awaitable<void> watch(asio::local::stream_protocol::socket& sock, std::int64_t id, const Args& args,
                            Control& ctl, const PeerCred& peer, const std::string& sid);

}  // namespace shicks::daemon::commands
