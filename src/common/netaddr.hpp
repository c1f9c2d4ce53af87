#pragma once
// Listen addresses ("127.0.0.1:2525", "[::1]:2525", "0.0.0.0:25") and networks
// ("127.0.0.0/8", "::1/128"). Pure parsing on inet_pton; no sockets.
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace shicks {

struct IpAddress {
  bool v6 = false;
  std::array<std::uint8_t, 16> bytes{};  // v4 uses the first 4

  static std::optional<IpAddress> parse(std::string_view text);
  std::string to_string() const;
  // ::ffff:a.b.c.d -> a.b.c.d; anything else unchanged.
  IpAddress unmapped() const;
  bool is_loopback() const;
  bool operator==(const IpAddress&) const = default;
};

struct ListenAddress {
  IpAddress ip;
  std::uint16_t port = 0;

  // Accepts "IPv4:PORT" and "[IPv6]:PORT"; the port must be 1..65535.
  static std::optional<ListenAddress> parse(std::string_view text);
  std::string to_string() const;  // the same forms
};

struct Network {
  IpAddress base;
  unsigned prefix = 0;

  // "ADDR/PREFIX" or a bare address (a host route).
  static std::optional<Network> parse(std::string_view text);
  bool contains(const IpAddress& ip) const;
  std::string to_string() const;
};

}  // namespace shicks
