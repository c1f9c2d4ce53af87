// shicks-testdb: the one private MariaDB shared by a test run, started by the same
// managed-mode code that shicksd uses (ctest fixture "testdb").
//
//   shicks-testdb start DIR   start (or restart) it; returns once it answers
//   shicks-testdb stop DIR    stop it and wait until it is gone
//
// `start` leaves a keeper process holding the ManagedDatabase; its pid is in
// DIR/keeper.pid and the socket path in DIR/socket. The keeper exits on SIGTERM,
// stopping mariadbd first.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "common/log.hpp"
#include "server/config/config.hpp"
#include "server/store/managed_db.hpp"
#include "server/store/schema.hpp"

namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {
volatile sig_atomic_t g_stop = 0;
void on_term(int) { g_stop = 1; }

pid_t read_pid(const fs::path& f) {
  std::ifstream in(f);
  long pid = 0;
  in >> pid;
  return pid_t(pid);
}

int stop(const fs::path& dir) {
  pid_t pid = read_pid(dir / "keeper.pid");
  if (pid <= 0 || ::kill(pid, 0) != 0) return 0;
  ::kill(pid, SIGTERM);
  for (int i = 0; i < 1200 && ::kill(pid, 0) == 0; ++i) std::this_thread::sleep_for(50ms);
  if (::kill(pid, 0) == 0) {
    std::fprintf(stderr, "shicks-testdb: keeper %d did not stop; killing it\n", pid);
    ::kill(pid, SIGKILL);
  }
  fs::remove(dir / "keeper.pid");
  return 0;
}

int start(const fs::path& dir) {
  stop(dir);  // a keeper left by an aborted run
  fs::create_directories(dir);
  fs::remove(dir / "socket");
  fs::remove(dir / "failed");
  auto cfg_text = "[server]\nstate_dir = \"" + (dir / "state").string() +
                  "\"\ncontrol_socket = \"" + (dir / "unused.sock").string() +
                  "\"\n[database]\nmode = \"managed\"\nname = \"shicks_test\"\nbuffer_pool_bytes = 67108864\n"
                  "[smtp]\nlisten = []\nsubmission_listen = []\nsmtps_listen = []\n"
                  "[pop3]\nlisten = []\npop3s_listen = []\n";
  auto cfg = shicks::config::load_string(cfg_text, dir / "testdb.toml");
  if (!cfg) {
    for (auto& p : cfg.error()) std::fprintf(stderr, "%s\n", p.to_string().c_str());
    return 1;
  }
  pid_t keeper = ::fork();
  if (keeper < 0) return 1;
  if (keeper == 0) {
    ::setsid();
    int logfd = ::open((dir / "keeper.log").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (logfd >= 0) {
      ::dup2(logfd, 1);
      ::dup2(logfd, 2);
      ::close(logfd);
    }
    ::signal(SIGTERM, on_term);
    ::signal(SIGINT, on_term);
    ::signal(SIGHUP, SIG_IGN);
    try {
      shicks::store::ManagedDatabase db(*cfg);
      db.start();
      std::ofstream(dir / "socket") << db.socket_path().string() << "\n";
      while (!g_stop) ::pause();
      db.stop();
    } catch (const std::exception& e) {
      std::ofstream(dir / "failed") << e.what() << "\n";
      std::fprintf(stderr, "%s\n", e.what());
      ::_exit(1);
    }
    ::_exit(0);
  }
  std::ofstream(dir / "keeper.pid") << keeper << "\n";
  for (int i = 0; i < 2400; ++i) {
    if (fs::exists(dir / "socket")) {
      std::printf("test database up: %s\n", (dir / "state" / "run" / "mariadb.sock").c_str());
      return 0;
    }
    int status = 0;
    if (::waitpid(keeper, &status, WNOHANG) == keeper) break;
    std::this_thread::sleep_for(50ms);
  }
  std::ifstream f(dir / "failed");
  std::string why((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  std::fprintf(stderr, "shicks-testdb: the test database did not start: %s\n", why.c_str());
  stop(dir);
  return 1;
}
}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: shicks-testdb start|stop DIR\n");
    return 2;
  }
  std::string cmd = argv[1];
  fs::path dir = fs::absolute(argv[2]);
  if (cmd == "start") return start(dir);
  if (cmd == "stop") return stop(dir);
  std::fprintf(stderr, "usage: shicks-testdb start|stop DIR\n");
  return 2;
}
