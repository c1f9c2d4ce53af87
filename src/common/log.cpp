#include "common/log.hpp"

#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <ctime>

namespace shicks::log {
namespace {
std::atomic<int> g_level{int(Level::info)};
std::atomic<int> g_fd{2};

const char* level_name(Level l) {
  switch (l) {
    case Level::debug: return "debug";
    case Level::info: return "info";
    case Level::warn: return "warn";
    case Level::error: return "error";
  }
  return "info";
}

void timestamp(std::string& out) {
  using namespace std::chrono;
  auto now = system_clock::now();
  auto secs = time_point_cast<seconds>(now);
  auto ms = duration_cast<milliseconds>(now - secs).count();
  std::time_t t = system_clock::to_time_t(secs);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  out.append(buf, n);
  fmt::format_to(std::back_inserter(out), ".{:03}Z", ms);
}
}  // namespace

void set_level(Level l) { g_level = int(l); }
Level level() { return Level(g_level.load()); }
void set_fd(int fd) { g_fd = fd < 0 ? 2 : fd; }

bool parse_level(std::string_view s, Level& out) {
  if (s == "debug") out = Level::debug;
  else if (s == "info") out = Level::info;
  else if (s == "warn") out = Level::warn;
  else if (s == "error") out = Level::error;
  else return false;
  return true;
}

std::string quote(std::string_view v) {
  bool plain = !v.empty();
  for (unsigned char c : v)
    if (c <= ' ' || c == '"' || c == '=' || c == '\\' || c == 0x7f) plain = false;
  if (plain) return std::string(v);
  std::string out = "\"";
  for (unsigned char c : v) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += char(c);
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c < ' ' || c == 0x7f) {
      fmt::format_to(std::back_inserter(out), "\\x{:02x}", c);
    } else {
      out += char(c);
    }
  }
  out += '"';
  return out;
}

Event::Event(Level lvl, std::string_view event) : Event(lvl, {}, event) {}

Event::Event(Level lvl, std::string_view sid, std::string_view event)
    : enabled_(int(lvl) >= g_level.load(std::memory_order_relaxed)) {
  if (!enabled_) return;
  line_.reserve(160);
  timestamp(line_);
  line_ += ' ';
  line_ += level_name(lvl);
  if (!sid.empty()) {
    line_ += " sid=";
    line_ += sid;
  }
  line_ += " event=";
  line_ += event;
}

Event& Event::kv(std::string_view key, std::string_view value) {
  if (!enabled_) return *this;
  line_ += ' ';
  line_ += key;
  line_ += '=';
  line_ += quote(value);
  return *this;
}

Event::~Event() {
  if (!enabled_) return;
  line_ += '\n';
  const char* p = line_.data();
  std::size_t left = line_.size();
  int fd = g_fd.load();
  while (left > 0) {
    ssize_t n = ::write(fd, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      return;
    }
    p += n;
    left -= std::size_t(n);
  }
}

}  // namespace shicks::log
