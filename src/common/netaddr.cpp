#include "common/netaddr.hpp"

#include <arpa/inet.h>

#include <fmt/core.h>

#include "common/strings.hpp"

namespace shicks {

std::optional<IpAddress> IpAddress::parse(std::string_view text) {
  if (text.empty() || text.size() >= INET6_ADDRSTRLEN) return std::nullopt;
  std::string s(text);
  IpAddress a;
  if (s.find(':') == std::string::npos) {
    if (inet_pton(AF_INET, s.c_str(), a.bytes.data()) != 1) return std::nullopt;
    a.v6 = false;
  } else {
    if (inet_pton(AF_INET6, s.c_str(), a.bytes.data()) != 1) return std::nullopt;
    a.v6 = true;
  }
  return a;
}

std::string IpAddress::to_string() const {
  char buf[INET6_ADDRSTRLEN] = {};
  inet_ntop(v6 ? AF_INET6 : AF_INET, bytes.data(), buf, sizeof buf);
  return buf;
}

IpAddress IpAddress::unmapped() const {
  if (!v6) return *this;
  for (int i = 0; i < 10; ++i)
    if (bytes[i] != 0) return *this;
  if (bytes[10] != 0xff || bytes[11] != 0xff) return *this;
  IpAddress v4;
  v4.v6 = false;
  for (int i = 0; i < 4; ++i) v4.bytes[i] = bytes[12 + i];
  return v4;
}

bool IpAddress::is_loopback() const {
  IpAddress a = unmapped();
  if (!a.v6) return a.bytes[0] == 127;
  for (int i = 0; i < 15; ++i)
    if (a.bytes[i] != 0) return false;
  return a.bytes[15] == 1;
}

std::optional<ListenAddress> ListenAddress::parse(std::string_view text) {
  std::string_view host, port;
  if (!text.empty() && text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':')
      return std::nullopt;
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
    if (host.find(':') == std::string_view::npos) return std::nullopt;
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string_view::npos) return std::nullopt;
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) return std::nullopt;  // bare v6 needs brackets
  }
  auto ip = IpAddress::parse(host);
  auto p = parse_u64(port);
  if (!ip || !p || *p == 0 || *p > 65535) return std::nullopt;
  return ListenAddress{*ip, std::uint16_t(*p)};
}

std::string ListenAddress::to_string() const {
  if (ip.v6) return fmt::format("[{}]:{}", ip.to_string(), port);
  return fmt::format("{}:{}", ip.to_string(), port);
}

std::optional<Network> Network::parse(std::string_view text) {
  auto slash = text.find('/');
  auto ip = IpAddress::parse(text.substr(0, slash));
  if (!ip) return std::nullopt;
  unsigned max = ip->v6 ? 128 : 32;
  unsigned prefix = max;
  if (slash != std::string_view::npos) {
    auto p = parse_u64(text.substr(slash + 1));
    if (!p || *p > max) return std::nullopt;
    prefix = unsigned(*p);
  }
  Network n{*ip, prefix};
  // Normalise: clear host bits so contains() and to_string() agree.
  for (unsigned bit = prefix; bit < max; ++bit) n.base.bytes[bit / 8] &= std::uint8_t(~(0x80u >> (bit % 8)));
  return n;
}

bool Network::contains(const IpAddress& candidate) const {
  IpAddress ip = candidate.unmapped();
  if (ip.v6 != base.v6) return false;
  for (unsigned bit = 0; bit < prefix; ++bit) {
    std::uint8_t mask = std::uint8_t(0x80u >> (bit % 8));
    if ((ip.bytes[bit / 8] & mask) != (base.bytes[bit / 8] & mask)) return false;
  }
  return true;
}

std::string Network::to_string() const { return fmt::format("{}/{}", base.to_string(), prefix); }

}  // namespace shicks
