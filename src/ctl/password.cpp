#include "ctl/password.hpp"

#include <signal.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string.h>  // explicit_bzero

#include "ctl/format.hpp"

namespace shicks::ctl {
namespace {

// The terminal's settings while echo is off, restored on the way out -- also when
// a signal (Ctrl-C) ends the program at the prompt.
termios g_saved;
volatile sig_atomic_t g_echo_off = 0;

void restore_and_reraise(int sig) {
  if (g_echo_off) ::tcsetattr(STDIN_FILENO, TCSAFLUSH, &g_saved);
  ::signal(sig, SIG_DFL);
  ::raise(sig);
}

class EchoOff {
 public:
  EchoOff() {
    if (::tcgetattr(STDIN_FILENO, &g_saved) != 0) return;
    for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGTSTP}) ::signal(sig, restore_and_reraise);
    termios t = g_saved;
    t.c_lflag &= ~tcflag_t(ECHO);
    t.c_lflag |= ECHONL;  // the Enter key still moves to the next line
    g_echo_off = 1;
    ::tcsetattr(STDIN_FILENO, TCSAFLUSH, &t);
  }
  ~EchoOff() {
    if (g_echo_off) ::tcsetattr(STDIN_FILENO, TCSAFLUSH, &g_saved);
    g_echo_off = 0;
    for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGTSTP}) ::signal(sig, SIG_DFL);
  }
  EchoOff(const EchoOff&) = delete;
  EchoOff& operator=(const EchoOff&) = delete;
};

// One line from fd 0, read a byte at a time so nothing after it is consumed.
// nullopt at EOF before any byte.
std::optional<std::string> read_line_fd0() {
  std::string line;
  for (;;) {
    char c;
    ssize_t n = ::read(STDIN_FILENO, &c, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    line.push_back(c);
    if (c == '\n') break;
    if (line.size() > 4096) break;  // longer than any password we take
  }
  if (line.empty()) return std::nullopt;
  return strip_line_end(std::move(line));
}

Expected<std::string, std::string> prompt(const std::string& text) {
  std::fprintf(stderr, "%s", text.c_str());
  std::fflush(stderr);
  std::optional<std::string> line;
  {
    EchoOff off;
    line = read_line_fd0();
  }
  if (!line) return unexpected(std::string("no password entered"));
  return std::move(*line);
}

Expected<std::string, std::string> stdin_line() {
  auto line = read_line_fd0();
  if (!line) return unexpected(std::string("no password on standard input"));
  return std::move(*line);
}

void wipe(std::string& s) {
  if (!s.empty()) explicit_bzero(s.data(), s.size());
}

}  // namespace

Expected<std::string, std::string> read_new_password(bool from_stdin, const std::string& whose) {
  if (from_stdin || !::isatty(STDIN_FILENO)) return stdin_line();
  auto first = prompt("New password for " + whose + ": ");
  if (!first) return first;
  auto second = prompt("Retype the new password: ");
  if (!second) return second;
  bool same = *first == *second;
  wipe(*second);
  if (!same) {
    wipe(*first);
    return unexpected(std::string("the passwords do not match"));
  }
  return first;
}

Expected<std::string, std::string> read_secret_line(const std::string& text) {
  if (!::isatty(STDIN_FILENO)) return stdin_line();
  return prompt(text);
}

}  // namespace shicks::ctl
