#pragma once
// database.mode = "managed": a private mariadbd under server.state_dir.
//
//   STATE_DIR/mysql/            the data directory (mariadb-install-db on first start)
//   STATE_DIR/run/mariadb.sock  its unix socket (--skip-networking: no TCP at all)
//   STATE_DIR/run/mariadb.pid
//   STATE_DIR/log/mariadb.err   its error log
//   STATE_DIR/shicksd.lock      held by the shicksd that owns the instance
//
// The child gets PR_SET_PDEATHSIG, so a shicksd killed with -9 takes its mariadbd
// with it (mariadbd shuts down cleanly on SIGTERM). A start that finds a mariadbd
// still running on our data directory (and no live shicksd holding the lock) stops
// it first, then starts a fresh one: nothing is left orphaned, no manual step needed.
#include <sys/types.h>

#include <filesystem>
#include <string>

#include "server/config/config.hpp"
#include "server/store/connection.hpp"

namespace shicks::store {

class ManagedDatabase {
 public:
  // `os_user`: the account mariadbd runs as and shicksd connects as (unix_socket
  // authentication); default: the current one. shicksd passes server.user when it
  // is about to drop root.
  explicit ManagedDatabase(const config::Config& cfg, std::string os_user = {});
  ~ManagedDatabase();
  ManagedDatabase(const ManagedDatabase&) = delete;
  ManagedDatabase& operator=(const ManagedDatabase&) = delete;

  // Initialises if needed, starts mariadbd, waits until it answers and creates the
  // database. Throws StartupError with an operator-readable message.
  void start();
  // SIGTERM, wait (at most the start timeout), then SIGKILL. Idempotent.
  void stop();

  // How shicksd (and tests) connect: unix socket, unix_socket authentication.
  ConnectOptions connect_options(bool with_database = true) const;
  pid_t pid() const { return pid_; }
  const std::filesystem::path& socket_path() const { return socket_; }
  const std::filesystem::path& error_log() const { return errlog_; }

 private:
  void lock_state_dir();
  void stop_stale_instances();
  void initialise_if_needed();
  void spawn();
  void wait_until_ready();
  std::string error_log_tail() const;

  config::Config cfg_;
  std::filesystem::path state_, datadir_, rundir_, logdir_, socket_, pidfile_, errlog_, lockfile_;
  std::string os_user_;
  bool root_ = false;
  int lock_fd_ = -1;
  pid_t pid_ = -1;
};

}  // namespace shicks::store
