#include "control/client.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include <fmt/core.h>

#include "server/config/config.hpp"

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

Expected<std::string, std::string> resolve_socket(const std::string& socket_opt, const std::string& config_file) {
  if (!socket_opt.empty()) return socket_opt;
  if (const char* env = std::getenv("SHICKS_SOCKET"); env && *env) return std::string(env);
  if (!config_file.empty()) {
    auto cfg = config::load(config_file);
    if (!cfg) {
      std::string msg;
      for (const auto& p : cfg.error()) msg += (msg.empty() ? "" : "\n") + p.to_string();
      return unexpected(msg);
    }
    return cfg->server.control_socket.string();
  }
  return std::string("/run/shicks/control.sock");
}

}  // namespace shicks::control
