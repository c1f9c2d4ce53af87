#include "control/client.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <fmt/core.h>

#include "common/strings.hpp"

namespace shicks::control {

namespace {
ClientError unreachable(std::string msg) { return {ClientError::unreachable, std::move(msg)}; }
ClientError protocol_error(std::string msg) { return {ClientError::protocol, std::move(msg)}; }
}  // namespace

Expected<Client, ClientError> Client::connect(const std::string& path, std::chrono::milliseconds timeout) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path)
    return unexpected(unreachable(fmt::format("socket path too long: {}", path)));
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return unexpected(unreachable(fmt::format("socket: {}", std::strerror(errno))));
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    int e = errno;
    ::close(fd);
    std::string hint;
    if (e == ENOENT || e == ECONNREFUSED) hint = " (is shicksd running?)";
    if (e == EACCES) hint = " (permission denied: run as root or as a member of the control group)";
    return unexpected(unreachable(fmt::format("cannot connect to {}: {}{}", path, std::strerror(e), hint)));
  }
  timeval tv{};
  tv.tv_sec = timeout.count() / 1000;
  tv.tv_usec = (timeout.count() % 1000) * 1000;
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  return Client(fd, path);
}

Client::Client(Client&& o) noexcept
    : fd_(std::exchange(o.fd_, -1)), path_(std::move(o.path_)), buf_(std::move(o.buf_)), next_id_(o.next_id_) {}

Client& Client::operator=(Client&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(o.fd_, -1);
    path_ = std::move(o.path_);
    buf_ = std::move(o.buf_);
    next_id_ = o.next_id_;
  }
  return *this;
}

Client::~Client() {
  if (fd_ >= 0) ::close(fd_);
}

Expected<std::string, ClientError> Client::read_line() {
  for (;;) {
    auto nl = buf_.find('\n');
    if (nl != std::string::npos) {
      std::string line = buf_.substr(0, nl + 1);
      buf_.erase(0, nl + 1);
      return line;
    }
    if (buf_.size() > kDefaultMaxFrameBytes * 64)
      return unexpected(protocol_error("response from the daemon is too large"));
    char tmp[16384];
    ssize_t n = ::recv(fd_, tmp, sizeof tmp, 0);
    if (n == 0) return std::string();
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK)
        return unexpected(unreachable(fmt::format("the daemon did not answer on {} in time", path_)));
      return unexpected(unreachable(fmt::format("reading from {}: {}", path_, std::strerror(errno))));
    }
    buf_.append(tmp, std::size_t(n));
  }
}

Expected<Response, ClientError> Client::call(const std::string& cmd, const std::string& args_json) {
  Request req;
  req.id = next_id_++;
  req.cmd = cmd;
  req.args_json = args_json;
  std::string out = encode_request(req);
  const char* p = out.data();
  std::size_t left = out.size();
  while (left > 0) {
    ssize_t n = ::send(fd_, p, left, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      int e = errno;
      // The daemon may have answered (e.g. refused us) and closed before reading:
      // its answer is more useful than the broken pipe.
      auto early = read_line();
      if (early && !early->empty()) {
        if (auto resp = decode_response(*early)) return std::move(resp).value();
      }
      return unexpected(unreachable(fmt::format("writing to {}: {}", path_, std::strerror(e))));
    }
    p += n;
    left -= std::size_t(n);
  }
  auto line = read_line();
  if (!line) return unexpected(line.error());
  if (line->empty()) return unexpected(unreachable(fmt::format("the daemon closed {} without answering", path_)));
  auto resp = decode_response(*line);
  if (!resp) return unexpected(protocol_error("bad response from the daemon: " + resp.error()));
  return std::move(resp).value();
}

namespace {
// The value of a TOML basic ("...") or literal ('...') string at the start of `v`,
// with what follows it; nullopt when `v` does not start with one.
std::optional<std::string> toml_string(std::string_view v, std::string_view& rest) {
  if (v.empty() || (v[0] != '"' && v[0] != '\'')) return std::nullopt;
  char q = v[0];
  std::string out;
  for (std::size_t i = 1; i < v.size(); ++i) {
    char c = v[i];
    if (c == q) {
      rest = v.substr(i + 1);
      return out;
    }
    if (q == '"' && c == '\\' && i + 1 < v.size()) {
      char e = v[++i];
      switch (e) {
        case 'n': out += '\n'; break;
        case 't': out += '\t'; break;
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        default: return std::nullopt;  // \u escapes have no place in a socket path
      }
      continue;
    }
    out += c;
  }
  return std::nullopt;
}
}  // namespace

Expected<std::optional<std::string>, std::string> control_socket_from_toml(std::string_view text,
                                                                           const std::string& file) {
  std::string table;
  int lineno = 0;
  for (std::string_view line : split(text, '\n')) {
    ++lineno;
    line = trim(line);
    if (line.empty() || line[0] == '#') continue;
    if (line[0] == '[') {
      auto end = line.find(']');
      table = end == std::string_view::npos ? std::string() : std::string(trim(line.substr(1, end - 1)));
      continue;
    }
    auto eq = line.find('=');
    if (eq == std::string_view::npos) continue;
    std::string key(trim(line.substr(0, eq)));
    std::string full = table.empty() ? key : table + "." + key;
    if (full != "server.control_socket") continue;
    std::string_view rest;
    auto value = toml_string(trim(line.substr(eq + 1)), rest);
    rest = trim(rest);
    if (!value || (!rest.empty() && rest[0] != '#'))
      return unexpected(fmt::format("{}:{}: server.control_socket: expected a quoted path", file, lineno));
    if (value->empty())
      return unexpected(fmt::format("{}:{}: server.control_socket: must not be empty", file, lineno));
    return std::optional<std::string>(std::move(*value));
  }
  return std::optional<std::string>();
}

Expected<std::string, std::string> resolve_socket(const std::string& socket_opt, const std::string& config_file) {
  if (!socket_opt.empty()) return socket_opt;
  if (const char* env = std::getenv("SHICKS_SOCKET"); env && *env) return std::string(env);
  const std::string fallback = "/run/shicks/control.sock";
  if (config_file.empty()) return fallback;
  std::ifstream in(config_file, std::ios::binary);
  if (!in) return unexpected(fmt::format("{}: cannot read: {}", config_file, std::strerror(errno)));
  std::ostringstream text;
  text << in.rdbuf();
  auto found = control_socket_from_toml(text.str(), config_file);
  if (!found) return unexpected(found.error());
  if (!*found) return fallback;
  // A relative path is relative to the config file's folder, as shicksd reads it.
  std::filesystem::path p(**found);
  if (p.is_relative()) p = (std::filesystem::absolute(config_file).parent_path() / p).lexically_normal();
  return p.string();
}

}  // namespace shicks::control
