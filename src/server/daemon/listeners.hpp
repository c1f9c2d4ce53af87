#pragma once
// The TCP listeners of shicksd. Each accepted connection becomes one coroutine.
#include <memory>
#include <string>
#include <vector>

#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/ip/v6_only.hpp>
#include <asio/ssl/context.hpp>

#include "server/config/config.hpp"
#include "server/services/context.hpp"
#include "server/net/connection_caps.hpp"

namespace shicks::daemon {

enum class Service { smtp, submission, smtps, pop3, pop3s };

const char* service_name(Service s);   // "smtp", ...
const char* service_title(Service s);  // "SMTP server", ... for the up & running lines
bool implicit_tls(Service s);

class Listeners {
 public:
  explicit Listeners(services::ServerContext& ctx);
  ~Listeners();

  // Binds every configured address and sets up the connection caps; throws
  // StartupError naming the config line (also when server.max_connections, set in
  // the file, does not fit in the open-files limit).
  void bind_all();
  // Starts accepting; prints the "... is up & running on ..." lines.
  void start();
  // Stops accepting (open sessions finish on their own).
  void close();

 private:
  struct Bound;
  services::ServerContext& ctx_;
  asio::io_context& io_;
  const config::Config& cfg_;
  services::Stats& stats_;
  asio::ssl::context* tls_;
  std::vector<std::unique_ptr<Bound>> bound_;
  // server.max_connections over every listener; kind 0 the SMTP ones
  // (smtp.max_connections), kind 1 the POP3 ones (pop3.max_connections).
  std::shared_ptr<net::ConnectionCaps> caps_;
  // Refusals being written (see kMaxRefusals in listeners.cpp).
  std::shared_ptr<net::ConnectionCaps> refusing_;
};

}  // namespace shicks::daemon
