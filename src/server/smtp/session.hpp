#pragma once
// The SMTP session: a thin coroutine around smtp::Protocol (protocol.hpp). It reads,
// hands lines to the protocol, carries out the side effects it asks for (store
// look-ups, password checks, TLS, reading and storing the message) and writes the
// replies -- batched while pipelined input is waiting (RFC 2920).
#include <string>

#include <asio/awaitable.hpp>
#include <asio/ip/tcp.hpp>

#include "server/services/context.hpp"
#include "server/net/connection_caps.hpp"
#include "server/smtp/protocol.hpp"

namespace shicks::smtp {

asio::awaitable<void> run_session(asio::ip::tcp::socket sock, Listener listener, std::string sid,
                                  services::ServerContext& ctx,
                                  net::ConnectionCaps::Slot slot);

}  // namespace shicks::smtp
