#pragma once
// Blocking control-socket client used by shicksctl and shicks-top.
#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "common/expected.hpp"
#include "control/protocol.hpp"

namespace shicks::control {

struct ClientError {
  enum Kind { unreachable, protocol } kind;  // unreachable: exit 69 in shicksctl
  std::string message;
};

class Client {
 public:
  static Expected<Client, ClientError> connect(const std::string& socket_path,
                                                std::chrono::milliseconds timeout = std::chrono::seconds(30));
  Client(Client&& o) noexcept;
  Client& operator=(Client&& o) noexcept;
  Client(const Client&) = delete;
  ~Client();

  // Sends one request and waits for its response.
  Expected<Response, ClientError> call(const std::string& cmd, const std::string& args_json = "{}");
  // Reads one more line (the `watch` stream). Empty string at EOF.
  Expected<std::string, ClientError> read_line();
  // A whole line is already buffered: read_line() returns without reading.
  bool has_line() const { return buf_.find('\n') != std::string::npos; }
  int fd() const { return fd_; }

 private:
  explicit Client(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  int fd_ = -1;
  std::string path_;
  std::string buf_;
  std::int64_t next_id_ = 1;
};

// --socket, else $SHICKS_SOCKET, else the control_socket named in the config file
// (a light read that does not validate the rest), else /run/shicks/control.sock.
// Errors are one line for the user ("FILE: cannot read: ...", "FILE:LINE: ...").
Expected<std::string, std::string> resolve_socket(const std::string& socket_opt, const std::string& config_file);

// The light read: server.control_socket from the text of a shicks.toml, as written
// (nullopt when the file does not set it). Only that key is looked at.
Expected<std::optional<std::string>, std::string> control_socket_from_toml(std::string_view text,
                                                                           const std::string& file);

}  // namespace shicks::control
