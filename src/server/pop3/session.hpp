#pragma once
// The POP3 session: a thin coroutine around pop3::Protocol (protocol.hpp). It frames
// lines, hands them to the protocol and carries out the side effects it asks for:
// password checks, the maildrop lease and snapshot, STLS, streaming a message from
// its stored chunks, and the UPDATE-state deletions.
#include <string>

#include <asio/awaitable.hpp>
#include <asio/ip/tcp.hpp>

#include "server/services/context.hpp"
#include "server/net/connection_caps.hpp"

namespace shicks::pop3 {

asio::awaitable<void> run_session(asio::ip::tcp::socket sock, bool implicit_tls, std::string sid,
                                  services::ServerContext& ctx,
                                  net::ConnectionCaps::Slot slot);

}  // namespace shicks::pop3
