#pragma once
// One line per event, key=value, session id first when there is one:
//   2026-11-24T06:10:00.123Z info sid=s12 event=smtp.connect peer=127.0.0.1:50312
// Lines are written with a single write(2) so threads never interleave.
// Never log a password or an AUTH payload.
#include <cstdint>
#include <string>
#include <string_view>

#include <fmt/core.h>

namespace shicks::log {

enum class Level { debug = 0, info = 1, warn = 2, error = 3 };

void set_level(Level l);
Level level();
bool parse_level(std::string_view s, Level& out);
// Redirect output (tests); -1 restores stderr.
void set_fd(int fd);

// Quotes a value when it holds blanks, quotes, '=' or control bytes; escapes the rest.
std::string quote(std::string_view v);

class Event {
 public:
  Event(Level lvl, std::string_view event);
  Event(Level lvl, std::string_view sid, std::string_view event);
  ~Event();
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;

  Event& kv(std::string_view key, std::string_view value);
  Event& kv(std::string_view key, const std::string& value) { return kv(key, std::string_view(value)); }
  Event& kv(std::string_view key, const char* value) { return kv(key, std::string_view(value)); }
  Event& kv(std::string_view key, bool value) { return kv(key, std::string_view(value ? "true" : "false")); }
  template <class N>
    requires std::is_arithmetic_v<N>
  Event& kv(std::string_view key, N value) {
    if (enabled_) fmt::format_to(std::back_inserter(line_), " {}={}", key, value);
    return *this;
  }

 private:
  std::string line_;
  bool enabled_;
};

inline Event debug(std::string_view event) { return Event(Level::debug, event); }
inline Event info(std::string_view event) { return Event(Level::info, event); }
inline Event warn(std::string_view event) { return Event(Level::warn, event); }
inline Event error(std::string_view event) { return Event(Level::error, event); }

}  // namespace shicks::log
