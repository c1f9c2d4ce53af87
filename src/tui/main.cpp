// shicks-top: live view of a running shicksd, fed by its control socket.
// This release polls `status`; the `watch` stream and the full dashboard arrive
// with the control-socket work.
#include <curses.h>
#include <locale.h>

#include <chrono>
#include <cstdio>
#include <optional>
#include <string>
#include <thread>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "control/client.hpp"
#include "shicks/version.hpp"

namespace {
using nlohmann::json;

struct Snapshot {
  bool connected = false;
  std::string error;
  json status;
};

Snapshot poll(const std::string& path) {
  Snapshot s;
  auto c = shicks::control::Client::connect(path, std::chrono::seconds(5));
  if (!c) {
    s.error = c.error().message;
    return s;
  }
  auto r = c->call("status");
  if (!r) {
    s.error = r.error().message;
    return s;
  }
  if (!r->ok) {
    s.error = r->error;
    return s;
  }
  s.connected = true;
  s.status = json::parse(r->result_json, nullptr, false);
  return s;
}

void draw(const Snapshot& s, const std::string& path) {
  erase();
  int rows = LINES, cols = COLS;
  auto line = [&](int y, const std::string& text, int attr = 0) {
    if (y >= rows) return;
    if (attr) attron(attr);
    mvaddnstr(y, 0, text.c_str(), cols);
    if (attr) attroff(attr);
  };
  line(0, "shicks-top " + std::string(shicks::kVersion) + "  " + path, A_REVERSE);
  if (!s.connected) {
    line(2, "disconnected \xe2\x80\x94 retrying", A_BOLD);
    line(3, s.error);
  } else {
    const json& st = s.status;
    std::uint64_t up = st.value("uptime_seconds", std::uint64_t(0));
    char buf[256];
    std::snprintf(buf, sizeof buf, "%s  shicksd %s  up %llud %02lluh %02llum %02llus", st.value("hostname", "?").c_str(),
                  st.value("version", "?").c_str(), (unsigned long long)(up / 86400),
                  (unsigned long long)(up % 86400 / 3600), (unsigned long long)(up % 3600 / 60),
                  (unsigned long long)(up % 60));
    line(2, buf, A_BOLD);
    json db = st.value("database", json::object());
    std::string dbline = "database: " + db.value("mode", std::string("?")) + " " + db.value("name", std::string("?")) +
                         " " + db.value("state", std::string("?"));
    line(3, dbline);
    std::snprintf(buf, sizeof buf, "connections: %llu open, %llu since start",
                  (unsigned long long)st.value("connections_open", 0ull),
                  (unsigned long long)st.value("connections_total", 0ull));
    line(4, buf);
    line(6, "LISTENERS", A_UNDERLINE);
    int y = 7;
    const json listeners = st.value("listeners", json::array());
    for (const auto& l : listeners) {
      std::snprintf(buf, sizeof buf, "  %-11s %s", l.value("protocol", std::string("?")).c_str(),
                    l.value("address", std::string("?")).c_str());
      line(y++, buf);
    }
  }
  line(rows - 1, "q quit", A_REVERSE);
  refresh();
}
}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"shicks-top - live view of a running shicksd", "shicks-top"};
  app.set_version_flag("--version", std::string("shicks-top ") + shicks::kVersion);
  std::string socket_opt, config_file;
  double interval = 1.0;
  app.add_option("--socket", socket_opt, "control socket (default: $SHICKS_SOCKET, else from -c, else /run/shicks/control.sock)");
  app.add_option("-c,--config", config_file, "read the control socket path from this shicks.toml");
  app.add_option("--interval", interval, "seconds between refreshes (default 1)")->check(CLI::Range(0.1, 3600.0));
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

  setlocale(LC_ALL, "");
  initscr();
  cbreak();
  noecho();
  keypad(stdscr, TRUE);
  curs_set(0);
  int tick_ms = 100;
  timeout(tick_ms);
  auto next_poll = std::chrono::steady_clock::now();
  Snapshot snap;
  for (;;) {
    auto now = std::chrono::steady_clock::now();
    if (now >= next_poll) {
      snap = poll(*path);
      next_poll = now + std::chrono::milliseconds(long(interval * 1000));
      draw(snap, *path);
    }
    int ch = getch();
    if (ch == 'q' || ch == 'Q') break;
    if (ch == KEY_RESIZE) draw(snap, *path);
  }
  endwin();
  return 0;
}
