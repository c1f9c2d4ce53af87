#include "common/instance.hpp"

#include <unistd.h>

#include <cstdint>
#include <string_view>

#include <fmt/core.h>

namespace shicks {
namespace {

std::string machine_name() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0 || !buf[0]) return "localhost";
  return std::string(buf).substr(0, 64);
}

std::string fnv1a_hex(std::string_view s) {
  std::uint32_t h = 2166136261u;
  for (unsigned char c : s) {
    h ^= c;
    h *= 16777619u;
  }
  return fmt::format("{:08x}", h);
}

}  // namespace

std::string instance_prefix(const std::filesystem::path& control_socket) {
  std::error_code ec;
  const auto socket = std::filesystem::absolute(control_socket, ec);
  return fmt::format("{}/{}/", machine_name(), fnv1a_hex(socket.string()));
}

}  // namespace shicks
