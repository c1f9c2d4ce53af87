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
#include "server/daemon/context.hpp"

namespace shicks::daemon {

enum class Service { smtp, submission, smtps, pop3, pop3s };

const char* service_name(Service s);   // "smtp", ...
const char* service_title(Service s);  // "SMTP server", ... for the up & running lines
bool implicit_tls(Service s);

class Listeners {
 public:
  explicit Listeners(ServerContext& ctx);
  ~Listeners();

  // Binds every configured address; throws StartupError naming the config line.
  void bind_all();
  // Starts accepting; prints the "... is up & running on ..." lines.
  void start();
  // Stops accepting (open sessions finish on their own).
  void close();

 private:
  struct Bound;
  ServerContext& ctx_;
  asio::io_context& io_;
  const config::Config& cfg_;
  Stats& stats_;
  asio::ssl::context* tls_;
  std::vector<std::unique_ptr<Bound>> bound_;
};

}  // namespace shicks::daemon
