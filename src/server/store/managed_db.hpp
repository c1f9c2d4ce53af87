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
//
// Supervision (supervise()): a thread of its own waits on a pidfd of the child, so
// an exit is seen at once without blocking a network thread. It logs the exit,
// waits as RestartPolicy says (0.5 s, 1 s, 2 s, ...), starts mariadbd again and
// reports it ready; at the fifth failure in a row it gives up and says so, and
// shicksd exits non-zero. PR_SET_PDEATHSIG fires when the *thread* that forked the
// child ends, so that thread, which forks every restarted instance, lives until
// stop(): the database stays up while shicksd drains its sessions.
#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <thread>

#include "server/config/config.hpp"
#include "server/store/connection.hpp"
#include "server/store/managed_memory.hpp"

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
  // SIGTERM, wait (at most the start timeout), then SIGKILL. Idempotent. Ends the
  // supervision first: nothing is restarted after stop() began.
  void stop();

  // After start(): restart mariadbd whenever it exits, until stop_restarting() or
  // stop(). Called from the supervising thread: `down` when the instance exited
  // (the pool's connections are dead), `up` when a restarted one answers,
  // `gave_up(failures, last_error)` when the policy gives up (nothing runs then).
  struct Callbacks {
    std::function<void()> down;
    std::function<void()> up;
    std::function<void(unsigned failures, const std::string& last_error)> gave_up;
  };
  void supervise(Callbacks cb);
  // A graceful stop began: an exit from now on is not restarted. Does not block.
  void stop_restarting();

  // How shicksd (and tests) connect: unix socket, unix_socket authentication.
  ConnectOptions connect_options(bool with_database = true) const;
  // The data folder (STATE_DIR/mysql).
  const std::filesystem::path& datadir() const { return datadir_; }
  pid_t pid() const { return pid_.load(); }
  const std::filesystem::path& socket_path() const { return socket_; }
  const std::filesystem::path& error_log() const { return errlog_; }

 private:
  void lock_state_dir();
  void stop_stale_instances();
  void initialise_if_needed();
  void spawn();
  void wait_until_ready();
  void kill_child();
  std::string error_log_tail() const;
  void supervisor_main(Callbacks cb);
  void wake();
  bool sleep_unless_stopped(std::chrono::milliseconds d);
  void wait_for_exit_request();
  // From the supervising thread while mariadbd runs: grows the pool when the data
  // has outgrown it (store/managed_memory.hpp).
  void grow_buffer_pool_if_needed();

  config::Config cfg_;
  std::filesystem::path state_, datadir_, rundir_, logdir_, socket_, pidfile_, errlog_, lockfile_;
  std::string os_user_;
  int lock_fd_ = -1;
  std::atomic<pid_t> pid_{-1};
  ManagedMemory memory_;  // planned at start(); the pool size restarts use

  // Supervision. wake_fd_ (an eventfd) interrupts the thread's waits.
  std::thread supervisor_;
  std::atomic<bool> no_restart_{false};  // stop_restarting() or stop()
  std::atomic<bool> exit_{false};        // stop(): the thread ends
  int wake_fd_ = -1;
};

}  // namespace shicks::store
