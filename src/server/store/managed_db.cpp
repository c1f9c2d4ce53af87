#include "server/store/managed_db.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

#include <fmt/core.h>

#include "common/log.hpp"
#include "server/store/restart_policy.hpp"
#include "server/store/schema.hpp"

namespace shicks::store {
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {
// How often the supervising thread looks at the data and the buffer pool.
constexpr auto kGrowthCheck = std::chrono::seconds(60);

void make_dir(const fs::path& p, mode_t mode) {
  std::error_code ec;
  fs::create_directories(p, ec);
  if (ec) throw StartupError(fmt::format("cannot create {}: {}", p.string(), ec.message()));
  ::chmod(p.c_str(), mode);
}

std::vector<std::string> read_cmdline(pid_t pid) {
  std::ifstream in(fmt::format("/proc/{}/cmdline", pid), std::ios::binary);
  std::vector<std::string> args;
  std::string arg;
  while (std::getline(in, arg, '\0')) args.push_back(arg);
  return args;
}

bool alive(pid_t pid) { return pid > 0 && (::kill(pid, 0) == 0 || errno == EPERM); }

// Waits for `pid` to go away: reaps it when it is our child, polls otherwise.
bool wait_gone(pid_t pid, bool child, std::chrono::milliseconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (child) {
      int status = 0;
      pid_t r = ::waitpid(pid, &status, WNOHANG);
      if (r == pid || (r < 0 && errno == ECHILD)) return true;
    } else if (!alive(pid)) {
      return true;
    } else {
      // A zombie still answers kill(0); its state in /proc says it is done.
      std::ifstream st(fmt::format("/proc/{}/stat", pid));
      std::string line;
      std::getline(st, line);
      auto close = line.rfind(')');
      if (close != std::string::npos && close + 2 < line.size() && line[close + 2] == 'Z') return true;
    }
    std::this_thread::sleep_for(50ms);
  }
  return false;
}

void terminate(pid_t pid, bool child, std::chrono::milliseconds grace) {
  if (::kill(pid, SIGTERM) != 0 && errno == ESRCH) {
    if (child) ::waitpid(pid, nullptr, WNOHANG);
    return;
  }
  if (wait_gone(pid, child, grace)) return;
  log::warn("db.managed.kill").kv("pid", pid).kv("reason", "did not stop after SIGTERM");
  ::kill(pid, SIGKILL);
  wait_gone(pid, child, 10s);
}

// A descriptor that polls readable when `pid` exits (Linux 5.3); -1 without one.
int open_pidfd(pid_t pid) {
#ifdef SYS_pidfd_open
  return int(::syscall(SYS_pidfd_open, pid, 0));
#else
  (void)pid;
  errno = ENOSYS;
  return -1;
#endif
}

// "exit:1", "signal:KILL": how a child ended, for the log.
std::string describe_status(int status) {
  if (WIFEXITED(status)) return fmt::format("exit:{}", WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    const char* name = ::sigabbrev_np(WTERMSIG(status));
    return name ? fmt::format("signal:{}", name) : fmt::format("signal:{}", WTERMSIG(status));
  }
  return fmt::format("status:{}", status);
}

std::int64_t ms_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t).count();
}

}  // namespace

ManagedDatabase::ManagedDatabase(const config::Config& cfg, std::string os_user) : cfg_(cfg) {
  state_ = cfg.server.state_dir;
  datadir_ = state_ / "mysql";
  rundir_ = state_ / "run";
  logdir_ = state_ / "log";
  socket_ = rundir_ / "mariadb.sock";
  pidfile_ = rundir_ / "mariadb.pid";
  errlog_ = logdir_ / "mariadb.err";
  lockfile_ = state_ / "shicksd.lock";
  if (!os_user.empty()) os_user_ = std::move(os_user);
  else if (passwd* pw = ::getpwuid(::geteuid())) os_user_ = pw->pw_name;
  else os_user_ = ::geteuid() == 0 ? "root" : std::to_string(::geteuid());
}

ManagedDatabase::~ManagedDatabase() {
  stop();
  if (lock_fd_ >= 0) ::close(lock_fd_);
  if (wake_fd_ >= 0) ::close(wake_fd_);
}

ConnectOptions ManagedDatabase::connect_options(bool with_database) const {
  ConnectOptions o;
  o.socket = socket_.string();
  o.user = os_user_;  // mariadb-install-db grants it unix_socket authentication
  if (with_database) o.database = cfg_.database.name;
  o.connect_timeout_seconds = cfg_.database.connect_timeout_seconds;
  o.read_timeout_seconds = cfg_.database.read_timeout_seconds;
  o.write_timeout_seconds = cfg_.database.write_timeout_seconds;
  return o;
}

void ManagedDatabase::lock_state_dir() {
  lock_fd_ = ::open(lockfile_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (lock_fd_ < 0) throw StartupError(fmt::format("cannot open {}: {}", lockfile_.string(), std::strerror(errno)));
  if (::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    std::string holder;
    std::ifstream in(lockfile_);
    std::getline(in, holder);
    throw StartupError(fmt::format("another shicksd{} is using {}; stop it first",
                                   holder.empty() ? "" : " (pid " + holder + ")", state_.string()));
  }
  std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(lock_fd_, 0) == 0) (void)!::pwrite(lock_fd_, pid.data(), pid.size(), 0);
}

void ManagedDatabase::stop_stale_instances() {
  // We hold the lock, so any mariadbd on our data directory belongs to a shicksd that
  // died (kill -9, crash, power loss of the parent only). Stop it cleanly.
  std::string want = "--datadir=" + datadir_.string();
  DIR* proc = ::opendir("/proc");
  if (!proc) return;
  std::vector<pid_t> stale;
  while (dirent* e = ::readdir(proc)) {
    char* end = nullptr;
    long pid = std::strtol(e->d_name, &end, 10);
    if (!end || *end || pid <= 0 || pid == ::getpid()) continue;
    auto args = read_cmdline(pid_t(pid));
    if (args.empty() || fs::path(args[0]).filename() != "mariadbd") continue;
    for (const auto& a : args)
      if (a == want) stale.push_back(pid_t(pid));
  }
  ::closedir(proc);
  for (pid_t pid : stale) {
    log::warn("db.managed.stale").kv("pid", pid).kv("datadir", datadir_.string()).kv("action", "stopping");
    terminate(pid, false, std::chrono::seconds(cfg_.database.start_timeout_seconds));
  }
  std::error_code ec;
  fs::remove(socket_, ec);
  fs::remove(pidfile_, ec);
}

void ManagedDatabase::initialise_if_needed() {
  if (fs::exists(datadir_ / "mysql")) return;
  // Initialise into a scratch directory and rename it into place, so a start that is
  // interrupted half-way never leaves a data directory that looks initialised.
  fs::path scratch = state_ / "mysql.init";
  std::error_code ec;
  fs::remove_all(scratch, ec);
  fs::remove_all(datadir_, ec);
  make_dir(scratch, 0700);
  fs::path log = logdir_ / "mariadb-install-db.log";
  log::info("db.managed.init").kv("datadir", datadir_.string());
  std::string cmd = fmt::format(
      "'{}' --no-defaults --datadir='{}' --user='{}' --auth-root-authentication-method=socket --skip-test-db "
      "--skip-name-resolve > '{}' 2>&1",
      cfg_.database.install_db.string(), scratch.string(), os_user_, log.string());
  int rc = std::system(cmd.c_str());
  if (rc != 0) {
    std::ifstream in(log);
    std::stringstream ss;
    ss << in.rdbuf();
    std::string out = ss.str();
    if (out.size() > 2000) out = "..." + out.substr(out.size() - 2000);
    throw StartupError(fmt::format("{} failed (status {}); its output ({}):\n{}", cfg_.database.install_db.string(),
                                   rc, log.string(), out));
  }
  fs::rename(scratch, datadir_, ec);
  if (ec) throw StartupError(fmt::format("cannot rename {} to {}: {}", scratch.string(), datadir_.string(), ec.message()));
}

void ManagedDatabase::spawn() {
  std::vector<std::string> args = {
      cfg_.database.mariadbd.string(),
      "--no-defaults",
      "--datadir=" + datadir_.string(),
      "--socket=" + socket_.string(),
      "--pid-file=" + pidfile_.string(),
      "--log-error=" + errlog_.string(),
      "--skip-networking",
      "--skip-name-resolve",
      "--innodb-flush-log-at-trx-commit=1",
      "--innodb-doublewrite=1",
      "--max-allowed-packet=64M",  // chunks are at most 1 MiB; room for multi-row batches
      "--max-connections=500",
      "--character-set-server=utf8mb4",
      "--collation-server=utf8mb4_unicode_ci",
      "--user=" + os_user_,
  };
  for (auto& o : memory_options(memory_)) args.push_back(std::move(o));
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  int logfd = ::open(errlog_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  if (logfd < 0) throw StartupError(fmt::format("cannot open {}: {}", errlog_.string(), std::strerror(errno)));
  pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid < 0) {
    ::close(logfd);
    throw StartupError(fmt::format("fork: {}", std::strerror(errno)));
  }
  if (pid == 0) {
    // Child: only async-signal-safe calls until exec.
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (::getppid() != parent) ::_exit(1);  // the parent died before prctl took effect
    ::setpgid(0, 0);                        // a terminal's Ctrl-C goes to shicksd, which stops us in order
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::signal(SIGPIPE, SIG_DFL);
    int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull >= 0) ::dup2(devnull, 0);
    ::dup2(logfd, 1);
    ::dup2(logfd, 2);
    ::close_range(3, ~0U, 0);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  ::close(logfd);
  pid_ = pid;
  log::info("db.managed.start").kv("pid", pid).kv("socket", socket_.string());
}

std::string ManagedDatabase::error_log_tail() const {
  std::ifstream in(errlog_);
  std::vector<std::string> lines;
  std::string line;
  while (std::getline(in, line)) {
    lines.push_back(line);
    if (lines.size() > 12) lines.erase(lines.begin());
  }
  std::string out;
  for (auto& l : lines) out += "\n  " + l;
  return out;
}

void ManagedDatabase::wait_until_ready() {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(cfg_.database.start_timeout_seconds);
  ConnectOptions opts = connect_options(false);
  opts.connect_timeout_seconds = 2;
  std::string last_error;
  while (std::chrono::steady_clock::now() < deadline) {
    if (exit_ || no_restart_) throw StartupError("shicksd is stopping");
    int status = 0;
    pid_t pid = pid_;
    pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) {
      pid_ = -1;
      throw StartupError(fmt::format("mariadbd exited during start-up ({}); last lines of {}:{}",
                                     WIFEXITED(status) ? "status " + std::to_string(WEXITSTATUS(status))
                                                       : "signal " + std::to_string(WTERMSIG(status)),
                                     errlog_.string(), error_log_tail()));
    }
    if (fs::exists(socket_)) {
      try {
        Connection c(opts);
        c.ensure_connected();
        create_database(c, cfg_.database.name);
        return;
      } catch (const DbError& e) {
        last_error = e.what();
      }
    }
    std::this_thread::sleep_for(100ms);
  }
  kill_child();
  throw StartupError(fmt::format("mariadbd did not answer within {} s (database.start_timeout_seconds){}; "
                                 "last lines of {}:{}",
                                 cfg_.database.start_timeout_seconds, last_error.empty() ? "" : ": " + last_error,
                                 errlog_.string(), error_log_tail()));
}

void ManagedDatabase::start() {
  if (!fs::exists(cfg_.database.mariadbd))
    throw StartupError(fmt::format("{}{} not found: install mariadb-server (scripts/bootstrap does), or set "
                                   "database.mariadbd",
                                   cfg_.where("database.mariadbd"), cfg_.database.mariadbd.string()));
  make_dir(state_, 0750);
  make_dir(rundir_, 0750);
  make_dir(logdir_, 0750);
  lock_state_dir();
  stop_stale_instances();
  initialise_if_needed();
  const std::uint64_t ram = machine_memory_bytes();
  const std::uint64_t data = data_bytes_on_disk(datadir_ / cfg_.database.name);
  memory_ = plan_memory(cfg_.database, ram, data);
  log::info("db.managed.memory")
      .kv("buffer_pool_mib", memory_.buffer_pool / kMiB)
      .kv("budget_mib", memory_.budget / kMiB)
      .kv("data_mib", data / kMiB)
      .kv("machine_mib", ram / kMiB)
      .kv("sizing", memory_.fixed ? "database.buffer_pool_bytes"
                    : cfg_.lines.count("database.managed_memory_mb") ? "database.managed_memory_mb"
                                                                   : "automatic");
  spawn();
  wait_until_ready();
}

void ManagedDatabase::grow_buffer_pool_if_needed() {
  if (memory_.fixed || pid_ <= 0) return;
  try {
    Connection c(connect_options());
    auto row = c.query_one(sql::kManagedDataAndPool);
    if (!row) return;
    const std::uint64_t data = row->u64(0), current = row->u64(1);
    const std::uint64_t grown = grown_pool(current, data, memory_.budget);
    if (grown == 0) return;
    c.exec_text("SET GLOBAL innodb_buffer_pool_size = " + std::to_string(grown));
    memory_.buffer_pool = grown;  // a restarted instance starts with it
    log::info("db.managed.buffer_pool")
        .kv("from_mib", current / kMiB)
        .kv("to_mib", grown / kMiB)
        .kv("data_mib", data / kMiB)
        .kv("budget_mib", memory_.budget / kMiB);
  } catch (const std::exception& e) {
    log::warn("db.managed.buffer_pool_failed").kv("error", e.what());
  }
}

void ManagedDatabase::stop() {
  no_restart_ = true;
  exit_ = true;
  wake();
  if (supervisor_.joinable()) supervisor_.join();
  kill_child();
}

void ManagedDatabase::kill_child() {
  pid_t pid = pid_;
  if (pid <= 0) return;
  log::info("db.managed.stop").kv("pid", pid);
  terminate(pid, true, std::chrono::seconds(std::max(cfg_.database.start_timeout_seconds, 60u)));
  pid_ = -1;
}

// ------------------------------------------------------------------ supervision

void ManagedDatabase::supervise(Callbacks cb) {
  if (supervisor_.joinable() || pid_ <= 0) return;
  wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake_fd_ < 0) throw StartupError(fmt::format("eventfd: {}", std::strerror(errno)));
  supervisor_ = std::thread([this, cb = std::move(cb)] { supervisor_main(cb); });
}

void ManagedDatabase::stop_restarting() {
  if (no_restart_.exchange(true)) return;
  wake();
}

void ManagedDatabase::wake() {
  if (wake_fd_ < 0) return;
  std::uint64_t one = 1;
  (void)!::write(wake_fd_, &one, sizeof one);
}

// Sleeps `d` unless stop_restarting() or stop() comes first (false then).
bool ManagedDatabase::sleep_unless_stopped(std::chrono::milliseconds d) {
  auto deadline = std::chrono::steady_clock::now() + d;
  for (;;) {
    if (no_restart_ || exit_) return false;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return true;
    pollfd p{wake_fd_, POLLIN, 0};
    if (::poll(&p, 1, int(left.count()) + 1) > 0) {
      std::uint64_t v;
      (void)!::read(wake_fd_, &v, sizeof v);
    }
  }
}

// Nothing more to supervise: keep the thread (and so PR_SET_PDEATHSIG of a child it
// forked) until stop().
void ManagedDatabase::wait_for_exit_request() {
  while (!exit_) {
    pollfd p{wake_fd_, POLLIN, 0};
    if (::poll(&p, 1, 1000) > 0) {
      std::uint64_t v;
      (void)!::read(wake_fd_, &v, sizeof v);
    }
  }
}

void ManagedDatabase::supervisor_main(Callbacks cb) {
  RestartPolicy policy;
  policy.started(std::chrono::steady_clock::now());
  for (;;) {
    // Wait for the running instance to exit, or for stop().
    pid_t pid = pid_;
    int pidfd = open_pidfd(pid);
    int status = 0;
    bool exited = false;
    auto next_growth_check = std::chrono::steady_clock::now() + kGrowthCheck;
    while (!exit_) {
      pollfd fds[2] = {{wake_fd_, POLLIN, 0}, {pidfd, POLLIN, 0}};
      // Without a pidfd (a kernel older than 5.3), look every 200 ms.
      // With a pidfd: no wake-up but the next look at the buffer pool.
      int until_check = memory_.fixed ? -1
                                      : int(std::max<std::int64_t>(0, std::chrono::duration_cast<std::chrono::milliseconds>(
                                                                           next_growth_check - std::chrono::steady_clock::now())
                                                                           .count()));
      int n = ::poll(fds, pidfd >= 0 ? 2 : 1, pidfd >= 0 ? until_check : 200);
      if (!memory_.fixed && std::chrono::steady_clock::now() >= next_growth_check) {
        grow_buffer_pool_if_needed();
        next_growth_check = std::chrono::steady_clock::now() + kGrowthCheck;
      }
      if (n > 0 && (fds[0].revents & POLLIN)) {
        std::uint64_t v;
        (void)!::read(wake_fd_, &v, sizeof v);
      }
      pid_t r = ::waitpid(pid, &status, WNOHANG);
      if (r == pid) {
        exited = true;
        break;
      }
      if (r < 0 && errno == ECHILD) {  // not ours to wait for any more: treat as gone
        status = 0;
        exited = true;
        break;
      }
    }
    if (pidfd >= 0) ::close(pidfd);
    if (!exited) return;  // stop(): it terminates the child

    auto down_at = std::chrono::steady_clock::now();
    pid_ = -1;
    std::string last_error = "mariadbd ended (" + describe_status(status) + ")";
    log::warn("db.managed.exited").kv("pid", pid).kv("status", describe_status(status));
    if (cb.down) cb.down();
    if (no_restart_) {
      log::info("db.managed.not_restarting").kv("reason", "shicksd is stopping");
      wait_for_exit_request();
      return;
    }

    for (;;) {
      auto delay = policy.failed(std::chrono::steady_clock::now());
      if (!delay) {
        if (cb.gave_up) cb.gave_up(policy.failures(), last_error);
        wait_for_exit_request();
        return;
      }
      log::warn("db.managed.restarting").kv("attempt", policy.failures()).kv("delay_ms", delay->count());
      if (!sleep_unless_stopped(*delay)) {
        log::info("db.managed.not_restarting").kv("reason", "shicksd is stopping");
        wait_for_exit_request();
        return;
      }
      try {
        stop_stale_instances();  // anything else on our data directory: we hold the lock
        spawn();
        wait_until_ready();
      } catch (const std::exception& e) {
        last_error = e.what();
        log::warn("db.managed.restart_failed").kv("attempt", policy.failures()).kv("error", last_error);
        if (exit_) return;  // stop(): it terminates a child still starting
        if (no_restart_) {
          log::info("db.managed.not_restarting").kv("reason", "shicksd is stopping");
          wait_for_exit_request();
          return;
        }
        continue;
      }
      policy.started(std::chrono::steady_clock::now());
      log::info("db.managed.restarted")
          .kv("pid", pid_.load())
          .kv("attempt", policy.failures())
          .kv("downtime_ms", ms_since(down_at));
      if (cb.up) cb.up();
      break;
    }
  }
}

}  // namespace shicks::store
