#pragma once
// How a TCP peer is written in logs, replies and trace headers: IPv4-mapped IPv6
// addresses (a dual-stack socket) as plain IPv4, IPv6 in brackets with a port.
#include <string>

#include <asio/ip/tcp.hpp>
#include <fmt/core.h>

namespace shicks::net {

inline asio::ip::address unmapped(asio::ip::address a) {
  if (a.is_v6() && a.to_v6().is_v4_mapped()) return asio::ip::make_address_v4(asio::ip::v4_mapped, a.to_v6());
  return a;
}

// "192.0.2.1:25" or "[2001:db8::1]:25"
inline std::string endpoint_text(const asio::ip::tcp::endpoint& ep) {
  auto a = unmapped(ep.address());
  if (a.is_v6()) return fmt::format("[{}]:{}", a.to_string(), ep.port());
  return fmt::format("{}:{}", a.to_string(), ep.port());
}

}  // namespace shicks::net
