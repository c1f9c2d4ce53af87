// shicks-top: a live full-screen view of a running shicksd, fed by the control
// socket's `watch` stream. One connection carries the stream; a second one, opened
// when needed, carries plain requests (spam.list, queue.list, session.kill,
// queue.flush). Everything shown is built by the Model (model.cpp) and laid out by
// view.cpp; screen.cpp paints it.
//
// Exit status: 0 on q (or SIGINT/SIGTERM/SIGHUP), 2 on a usage error.
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <optional>
#include <string>

#include <CLI/CLI.hpp>

#include "control/client.hpp"
#include "shicks/version.hpp"
#include "tui/model.hpp"
#include "tui/screen.hpp"
#include "tui/view.hpp"

namespace {
using namespace shicks;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

volatile sig_atomic_t g_stop = 0;
void on_stop_signal(int) { g_stop = 1; }

std::int64_t unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

class Dashboard {
 public:
  Dashboard(std::string path, double interval) : path_(std::move(path)), interval_(interval) {
    ui_.socket = path_;
    ui_.utf8 = screen_.utf8();
  }

  int run() {
    while (!g_stop && !quit_) {
      auto now = Clock::now();
      if (!watch_ && now >= next_connect_) connect();
      if (watch_ && now - last_snapshot_ > stall_limit()) drop("no data from the daemon for a while");
      if (watch_ && live_.connected()) fetch_extras(now);
      if (dirty_) draw();
      wait_for_input();
      read_stream();
      handle_keys();
    }
    return 0;
  }

 private:
  // ---- the watch stream
  void connect() {
    next_connect_ = Clock::now() + 1s;
    auto c = control::Client::connect(path_, 5s);
    if (!c) return drop(c.error().message);
    auto r = c->call("watch", tui::watch_args(interval_, live_.last_event_seq()));
    if (r && r->ok && tui::watch_last_seq(r->result_json) < live_.last_event_seq()) {
      // The daemon restarted (its events are numbered from 1 again): start over.
      live_.reset_event_seq();
      c = control::Client::connect(path_, 5s);
      if (!c) return drop(c.error().message);
      r = c->call("watch", tui::watch_args(interval_, 0));
    }
    if (!r) return drop(r.error().message);
    if (!r->ok) return drop(r->error);
    watch_ = std::move(*c);
    live_.set_connected();
    last_snapshot_ = Clock::now();
    next_spam_ = next_queue_ = Clock::now();
    dirty_ = true;
  }

  void drop(const std::string& why) {
    watch_.reset();
    request_.reset();
    live_.set_disconnected(why);
    dirty_ = true;
  }

  std::chrono::milliseconds stall_limit() const {
    return std::chrono::milliseconds(long(interval_ * 3000)) + 5s;
  }

  void read_stream() {
    if (!watch_) return;
    pollfd p{watch_->fd(), POLLIN, 0};
    while (watch_ && (watch_->has_line() || (::poll(&p, 1, 0) > 0 && p.revents))) {
      auto line = watch_->read_line();
      if (!line) return drop(line.error().message);
      if (line->empty()) return drop("the daemon closed the connection");
      if (live_.apply_line(*line)) {
        last_snapshot_ = Clock::now();
        dirty_ = true;
      }
    }
  }

  // ---- plain requests
  Expected<std::string, std::string> request(const std::string& cmd, const std::string& args = "{}") {
    if (!request_) {
      auto c = control::Client::connect(path_, 3s);
      if (!c) return unexpected(c.error().message);
      request_ = std::move(*c);
    }
    auto r = request_->call(cmd, args);
    if (!r) {
      request_.reset();
      return unexpected(r.error().message);
    }
    if (!r->ok) return unexpected(r->error);
    return r->result_json;
  }

  // Keywords and the queue are not in the snapshot: asked for now and then.
  void fetch_extras(Clock::time_point now) {
    if (now >= next_spam_) {
      next_spam_ = now + (ui_.view == tui::View::spam ? 5s : 30s);
      if (auto r = request("spam.list")) live_.apply_spam_list(*r);
      dirty_ = true;
    }
    bool queue_matters = ui_.view == tui::View::queue || live_.queue().size > 0 || !live_.queue().known;
    if (queue_matters && now >= next_queue_) {
      next_queue_ = now + (ui_.view == tui::View::queue ? 3s : 15s);
      if (auto r = request("queue.list")) live_.apply_queue_list(*r, unix_ms());
      dirty_ = true;
    }
  }

  // ---- the terminal
  const tui::Model& shown() const { return frozen_ ? *frozen_ : live_; }

  void draw() {
    screen_.draw(tui::layout(shown(), ui_, screen_.rows(), screen_.cols()));
    dirty_ = false;
  }

  // Until a key, a line of the stream, a signal (SIGWINCH) or a quarter second.
  void wait_for_input() {
    pollfd p[2] = {{STDIN_FILENO, POLLIN, 0}, {watch_ ? watch_->fd() : -1, POLLIN, 0}};
    if (watch_ && watch_->has_line()) return;
    ::poll(p, 2, 250);
  }

  void handle_keys() {
    for (tui::Key k = screen_.key(); k.kind != tui::Key::none; k = screen_.key()) {
      dirty_ = true;
      if (k.kind == tui::Key::resize) continue;
      if (!ui_.question.empty()) {
        answer(k.kind == tui::Key::character && (k.ch == 'y' || k.ch == 'Y'));
        continue;
      }
      if (ui_.help) {
        ui_.help = false;
        continue;
      }
      ui_.message.clear();
      on_key(k);
    }
  }

  void on_key(const tui::Key& k) {
    std::size_t count = tui::view_rows(shown(), ui_.view, screen_.cols(), ui_.utf8).keys.size();
    long page = long(tui::page_rows(shown(), screen_.rows(), screen_.cols()));
    switch (k.kind) {
      case tui::Key::up: return ui_.cursor().move(-1, count);
      case tui::Key::down: return ui_.cursor().move(1, count);
      case tui::Key::page_up: return ui_.cursor().move(-page, count);
      case tui::Key::page_down: return ui_.cursor().move(page, count);
      case tui::Key::home: return ui_.cursor().move(-long(count), count);
      case tui::Key::end: return ui_.cursor().move(long(count), count);
      case tui::Key::tab: return switch_view(tui::next_view(ui_.view, 1));
      case tui::Key::back_tab: return switch_view(tui::next_view(ui_.view, -1));
      case tui::Key::character: break;
      default: return;
    }
    switch (k.ch) {
      case 'q':
      case 'Q': quit_ = true; return;
      case '?':
      case 'h': ui_.help = true; return;
      case 'p':
      case 'P':
        ui_.paused = !ui_.paused;
        if (ui_.paused) frozen_ = live_;
        else frozen_.reset();
        return;
      case 'k':
      case 'K': return ask_kill();
      case 'f':
      case 'F': return flush_queue();
      default: return;
    }
  }

  void switch_view(tui::View v) {
    ui_.view = v;
    // Fresh data for the view just opened.
    if (v == tui::View::spam) next_spam_ = Clock::now();
    if (v == tui::View::queue) next_queue_ = Clock::now();
  }

  void ask_kill() {
    std::string id = tui::selected_session(shown(), ui_);
    if (id.empty()) {
      ui_.message = ui_.view == tui::View::sessions ? "no session selected" : "select a session in the Sessions view";
      return;
    }
    std::string what = id;
    for (const auto& s : shown().sessions())
      if (s.id == id) what += " (" + s.protocol + (s.user.empty() ? "" : " " + s.user) + " from " + s.peer + ")";
    pending_kill_ = id;
    ui_.question = "end session " + what + "?";
  }

  void answer(bool yes) {
    ui_.question.clear();
    std::string id = std::move(pending_kill_);
    pending_kill_.clear();
    if (!yes) {
      ui_.message = "session " + id + " left open";
      return;
    }
    auto r = request("session.kill", tui::kill_args(id));
    ui_.message = r ? tui::kill_message(*r) : "cannot end session " + id + ": " + r.error();
  }

  void flush_queue() {
    auto r = request("queue.flush");
    ui_.message = r ? tui::flush_message(*r) : "cannot flush the queue: " + r.error();
    next_queue_ = Clock::now();
  }

  std::string path_;
  double interval_;
  tui::Screen screen_;
  tui::Model live_;
  std::optional<tui::Model> frozen_;  // what is shown while paused
  tui::UiState ui_;
  std::optional<control::Client> watch_, request_;
  Clock::time_point next_connect_{}, last_snapshot_{}, next_spam_{}, next_queue_{};
  std::string pending_kill_;
  bool dirty_ = true;
  bool quit_ = false;
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"shicks-top - live view of a running shicksd", "shicks-top"};
  app.set_version_flag("--version", std::string("shicks-top ") + shicks::kVersion);
  std::string socket_opt, config_file;
  double interval = 1.0;
  app.add_option("--socket", socket_opt,
                 "control socket (default: $SHICKS_SOCKET, else from -c, else /run/shicks/control.sock)");
  app.add_option("-c,--config", config_file, "read the control socket path from this shicks.toml");
  app.add_option("--interval", interval, "seconds between updates, 0.1 to 3600 (default 1)")
      ->check(CLI::Range(0.1, 3600.0));
  app.footer("Keys: q quit, Tab view, arrows/PgUp/PgDn scroll, k end session, f flush queue, p pause, ? help.\n"
             "See shicks-top(1).");
  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return 2;
  }
  auto path = shicks::control::resolve_socket(socket_opt, config_file);
  if (!path) {
    std::fprintf(stderr, "shicks-top: %s\n", path.error().c_str());
    return 2;
  }
  if (!::isatty(STDIN_FILENO) || !::isatty(STDOUT_FILENO)) {
    std::fprintf(stderr, "shicks-top: needs a terminal (use shicksctl status for scripts)\n");
    return 2;
  }
  struct sigaction sa{};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) ::sigaction(sig, &sa, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  Dashboard d(*path, interval);
  return d.run();
}
