#pragma once
// [db] tests run against the run's shared private MariaDB (ctest fixture "testdb").
// Each test gets a database of its own, dropped afterwards.
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <pwd.h>
#include <string>

#include <fmt/core.h>

#include "server/store/connection.hpp"
#include "server/store/schema.hpp"

namespace shicks::testing {

inline store::ConnectOptions server_options() {
  const char* sock = std::getenv("SHICKS_TEST_DB_SOCKET");
  if (!sock || !*sock) throw std::runtime_error("SHICKS_TEST_DB_SOCKET is not set: run the [db] tests through ctest");
  store::ConnectOptions o;
  o.socket = sock;
  passwd* pw = ::getpwuid(::geteuid());
  o.user = pw ? pw->pw_name : "root";
  o.connect_timeout_seconds = 5;
  o.read_timeout_seconds = 30;
  o.write_timeout_seconds = 30;
  return o;
}

class ScratchDatabase {
 public:
  ScratchDatabase() {
    static std::atomic<int> counter{0};
    name_ = fmt::format("d_{}_{}", ::getpid(), counter++);
    store::Connection admin(server_options());
    admin.exec_text(fmt::format("DROP DATABASE IF EXISTS `{}`", name_));
    store::create_database(admin, name_);
  }
  ~ScratchDatabase() {
    try {
      store::Connection admin(server_options());
      admin.exec_text(fmt::format("DROP DATABASE IF EXISTS `{}`", name_));
    } catch (...) {
    }
  }
  store::ConnectOptions options() const {
    auto o = server_options();
    o.database = name_;
    return o;
  }
  const std::string& name() const { return name_; }

 private:
  std::string name_;
};

}  // namespace shicks::testing
