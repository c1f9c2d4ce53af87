#include "tui/view.hpp"

#include <algorithm>
#include <ctime>

#include <fmt/core.h>

#include "common/text.hpp"

namespace shicks::tui {
using shicks::display_width;
using shicks::printable;

const char* view_title(View v) {
  switch (v) {
    case View::sessions: return "Sessions";
    case View::queue: return "Queue";
    case View::spam: return "Spam";
    case View::events: return "Events";
    case View::counters: return "Counters";
  }
  return "?";
}

View next_view(View v, int step) {
  long n = long(kViews.size());
  long i = (long(v) + step % n + n) % n;
  return kViews[std::size_t(i)];
}

// ---------------------------------------------------------------- text helpers

std::string fit(std::string_view s, std::size_t width) {
  std::string out = shorten(printable(s), width);
  std::size_t w = display_width(out);
  if (w < width) out.append(width - w, ' ');
  return out;
}

namespace {
// Right-aligned in `width` columns.
std::string rfit(std::string_view s, std::size_t width) {
  std::string p = printable(s);
  std::size_t w = display_width(p);
  if (w >= width) return fit(p, width);
  return std::string(width - w, ' ') + p;
}

std::string short_bytes(std::uint64_t n) {
  if (n < 1024) return fmt::format("{}B", n);
  const char* units = "KMGT";
  double v = double(n) / 1024;
  int u = 0;
  while (v >= 1024 && u < 3) {
    v /= 1024;
    ++u;
  }
  return v < 10 ? fmt::format("{:.1f}{}", v, units[u]) : fmt::format("{:.0f}{}", v, units[u]);
}

std::string clock_time(std::int64_t ms) {
  std::time_t t = std::time_t(ms / 1000);
  std::tm tm{};
  localtime_r(&t, &tm);
  char buf[16];
  std::strftime(buf, sizeof buf, "%H:%M:%S", &tm);
  return buf;
}

std::string uptime_text(std::uint64_t s) {
  if (s >= 86400) return fmt::format("{}d {:02}:{:02}", s / 86400, s % 86400 / 3600, s % 3600 / 60);
  return fmt::format("{:02}:{:02}:{:02}", s / 3600, s % 3600 / 60, s % 60);
}

// Joins cells (each already `fit`) with one blank.
std::string row(std::initializer_list<std::string> cells) {
  std::string out;
  for (const auto& c : cells) {
    if (!out.empty()) out += ' ';
    out += c;
  }
  return out;
}

// Splits `total` columns between flexible columns by weight (each at least `min`).
std::vector<std::size_t> flex(std::size_t total, std::initializer_list<std::size_t> weights, std::size_t min) {
  std::size_t sum = 0;
  for (auto w : weights) sum += w;
  std::vector<std::size_t> out;
  std::size_t used = 0, i = 0;
  for (auto w : weights) {
    std::size_t n = ++i == weights.size() ? (total > used ? total - used : 0) : total * w / sum;
    out.push_back(std::max(n, min));
    used += out.back();
  }
  return out;
}

std::string mdash(bool utf8) { return utf8 ? "\xe2\x80\x94" : "-"; }

// Items joined by blanks into lines of at most `width` columns, an item never split
// unless it is wider than a line; at most `max_lines` lines (fit() cuts the last).
std::vector<std::string> wrap(const std::vector<std::string>& items, std::size_t width, std::size_t max_lines) {
  std::vector<std::string> out(1);
  for (const auto& raw : items) {
    std::string item = printable(raw);
    if (!out.back().empty() && out.size() < max_lines && display_width(out.back()) + 1 + display_width(item) > width)
      out.emplace_back();
    out.back() += (out.back().empty() ? "" : " ") + item;
  }
  return out;
}

constexpr std::size_t kMaxEventLines = 3;
}  // namespace

std::string short_age(std::uint64_t s) {
  if (s < 60) return fmt::format("{}s", s);
  if (s < 3600) return fmt::format("{}m{:02}s", s / 60, s % 60);
  if (s < 86400) return fmt::format("{}h{:02}m", s / 3600, s % 3600 / 60);
  return fmt::format("{}d{:02}h", s / 86400, s % 86400 / 3600);
}

std::string sparkline(const std::vector<std::uint64_t>& values, bool utf8) {
  static const char* const blocks[] = {"\xe2\x96\x81", "\xe2\x96\x82", "\xe2\x96\x83", "\xe2\x96\x84",
                                       "\xe2\x96\x85", "\xe2\x96\x86", "\xe2\x96\x87", "\xe2\x96\x88"};
  static const char ascii[] = "._-=+*#@";
  std::uint64_t max = 0;
  for (auto v : values) max = std::max(max, v);
  std::string out;
  for (auto v : values) {
    if (v == 0 || max == 0) {
      out += ' ';
      continue;
    }
    std::size_t level = std::size_t((v * 8 + max - 1) / max);  // 1..8
    if (utf8) out += blocks[level - 1];
    else out += ascii[level - 1];
  }
  return out;
}

// ---------------------------------------------------------------- cursor

void Cursor::move(long delta, std::size_t count) {
  if (count == 0) {
    selected = 0;
    return;
  }
  long s = long(selected) + delta;
  selected = std::size_t(std::clamp(s, 0L, long(count) - 1));
  if (delta != 0) direction = delta > 0 ? 1 : -1;
  key.clear();  // follow() takes the new row's key
}

void Cursor::follow(const std::vector<std::string>& keys, std::size_t page) {
  if (!key.empty()) {
    auto it = std::find(keys.begin(), keys.end(), key);
    if (it != keys.end()) selected = std::size_t(it - keys.begin());
  }
  if (keys.empty()) selected = 0;
  else selected = std::min(selected, keys.size() - 1);
  if (!keys.empty() && keys[selected].empty()) {
    // The nearest row with a key, the way the selection was moving first.
    for (int dir : {direction, -direction}) {
      long i = long(selected);
      while (i >= 0 && i < long(keys.size()) && keys[std::size_t(i)].empty()) i += dir;
      if (i >= 0 && i < long(keys.size())) {
        selected = std::size_t(i);
        break;
      }
    }
  }
  key = keys.empty() ? std::string() : keys[selected];
  if (page == 0) page = 1;
  if (selected < top) top = selected;
  if (selected >= top + page) top = selected - page + 1;
  std::size_t max_top = keys.size() > page ? keys.size() - page : 0;
  top = std::min(top, max_top);
}

// ---------------------------------------------------------------- the views

Rows view_rows(const Model& m, View v, std::size_t width, bool utf8) {
  Rows r;
  switch (v) {
    case View::sessions: {
      // Fixed: ID 5, PROTOCOL 10, STATE 13, AGE 6, IN 6, OUT 6 and 7 blanks.
      std::size_t fixed = 5 + 10 + 13 + 6 + 6 + 6 + 7;
      auto f = flex(width > fixed ? width - fixed : 0, {3, 2}, 6);
      r.heading = row({fit("ID", 5), fit("PROTOCOL", 10), fit("PEER", f[0]), fit("USER", f[1]), fit("STATE", 13),
                       rfit("AGE", 6), rfit("IN", 6), rfit("OUT", 6)});
      for (const auto& s : m.sessions()) {
        std::string proto = s.protocol + (s.tls && s.protocol != "smtps" && s.protocol != "pop3s" ? "+tls" : "");
        r.rows.push_back(row({fit(s.id, 5), fit(proto, 10), fit(s.peer, f[0]), fit(s.user.empty() ? "-" : s.user, f[1]),
                              fit(s.state, 13), rfit(short_age(s.age_seconds), 6), rfit(short_bytes(s.bytes_in), 6),
                              rfit(short_bytes(s.bytes_out), 6)}));
        r.keys.push_back(s.id);
      }
      if (r.rows.empty()) {
        r.rows.push_back(m.connected() ? "(no open SMTP or POP3 sessions)" : "");
        r.keys.emplace_back();
      }
      break;
    }
    case View::queue: {
      std::size_t fixed = 6 + 5 + 11 + 3;
      auto f = flex(width > fixed ? width - fixed : 0, {1, 1}, 8);
      r.heading = row({rfit("ID", 6), fit("RECIPIENT", f[0]), rfit("TRIES", 5), fit("NEXT (UTC)", 11),
                       fit("LAST ERROR", f[1])});
      for (const auto& q : m.queue_entries()) {
        std::string next = q.next_attempt_at.size() >= 16 ? q.next_attempt_at.substr(5, 11) : q.next_attempt_at;
        std::replace(next.begin(), next.end(), 'T', ' ');
        r.rows.push_back(row({rfit(std::to_string(q.id), 6), fit(q.recipient, f[0]),
                              rfit(std::to_string(q.attempts), 5), fit(next, 11),
                              fit(q.last_error.empty() ? "-" : q.last_error, f[1])}));
        r.keys.push_back(std::to_string(q.id));
      }
      if (r.rows.empty()) {
        const auto& q = m.queue();
        r.rows.push_back(!q.known ? "(queue not loaded yet)" : q.size == 0 ? "(the relay queue is empty)"
                                                                           : "(loading the queue...)");
        r.keys.emplace_back();
      }
      break;
    }
    case View::spam: {
      std::size_t fixed = 10 + 19 + 2;
      std::size_t kw = width > fixed ? width - fixed : 8;
      r.heading = row({fit("KEYWORD", kw), rfit("HITS", 10), fit("LAST HIT (UTC)", 19)});
      for (const auto& k : m.top_keywords(1000)) {
        std::string last = k.last_hit_at.empty() ? "never" : when(k.last_hit_at);
        r.rows.push_back(row({fit(k.keyword, kw), rfit(std::to_string(k.hits), 10), fit(last, 19)}));
        r.keys.push_back(k.keyword);
      }
      if (r.rows.empty()) {
        r.rows.push_back(m.has_keywords() ? "(no spam keywords: shicksctl spam add-keyword WORD)"
                                          : "(keywords not loaded yet)");
        r.keys.emplace_back();
      }
      break;
    }
    case View::events: {
      std::size_t fixed = 8 + 16 + 2;
      std::size_t rest = width > fixed ? width - fixed : 8;
      r.heading = row({fit("TIME", 8), fit("EVENT", 16), fit("DETAILS", rest)});
      for (const auto& e : m.events()) {
        std::vector<std::string> items;
        for (const auto& [k, val] : e.fields) items.push_back(k + "=" + val);
        // Details that do not fit go on to continuation lines (not selectable).
        auto lines = wrap(items, rest, kMaxEventLines);
        r.rows.push_back(row({fit(clock_time(e.time_ms), 8), fit(e.type, 16), fit(lines[0], rest)}));
        r.keys.push_back(std::to_string(e.seq));
        for (std::size_t i = 1; i < lines.size(); ++i) {
          r.rows.push_back(row({fit("", 8), fit("", 16), fit(lines[i], rest)}));
          r.keys.emplace_back();
        }
      }
      if (r.rows.empty()) {
        r.rows.push_back("(no events yet)");
        r.keys.emplace_back();
      }
      break;
    }
    case View::counters: {
      std::size_t fixed = 12 + 9 + 3;
      auto f = flex(width > fixed ? width - fixed : 0, {1, 1}, 8);
      f[0] = std::min<std::size_t>(f[0], 28);
      std::size_t graph = width > fixed + f[0] ? width - fixed - f[0] : 0;
      r.heading = row({fit("COUNTER", f[0]), rfit("TOTAL", 12), rfit("LAST MIN", 9), fit("PER MINUTE", graph)});
      for (const auto& [name, value] : m.counters()) {
        const Rate* rate = m.rate(name);
        std::string spark = rate ? sparkline(rate->history(graph), utf8) : "";
        r.rows.push_back(row({fit(name, f[0]), rfit(std::to_string(value), 12),
                              rfit(rate ? std::to_string(rate->last_minute()) : "-", 9), spark}));
        r.keys.push_back(name);
      }
      if (r.rows.empty()) {
        r.rows.push_back("(no counters yet)");
        r.keys.emplace_back();
      }
      break;
    }
  }
  return r;
}

// ---------------------------------------------------------------- the screen

namespace {

// "listeners: smtp 0.0.0.0:25 [::]:25, pop3 ..., control /run/..." (each protocol
// once, with its addresses) wrapped onto at most 3 lines.
std::vector<std::string> listener_lines(const Model& m, std::size_t cols) {
  std::vector<std::pair<std::string, std::string>> by_protocol;  // in the daemon's order
  for (const auto& l : m.listeners()) {
    auto it = std::find_if(by_protocol.begin(), by_protocol.end(), [&](const auto& p) { return p.first == l.protocol; });
    if (it == by_protocol.end()) by_protocol.emplace_back(l.protocol, l.protocol + " " + l.address);
    else it->second += " " + l.address;
  }
  std::vector<std::string> items;
  for (std::size_t i = 0; i < by_protocol.size(); ++i)
    items.push_back(by_protocol[i].second + (i + 1 < by_protocol.size() ? "," : ""));
  if (items.empty()) items.emplace_back(m.ever_connected() ? "none" : "-");
  constexpr std::string_view kLabel = "listeners: ";
  auto lines = wrap(items, cols > kLabel.size() ? cols - kLabel.size() : 1, 3);
  std::vector<std::string> out;
  for (std::size_t i = 0; i < lines.size(); ++i)
    out.push_back((i == 0 ? std::string(kLabel) : std::string(kLabel.size(), ' ')) + lines[i]);
  return out;
}

std::string queue_text(const Model& m) {
  const auto& q = m.queue();
  if (!q.known) return "queue: -";
  std::string s = fmt::format("queue: {}", q.size);
  if (q.oldest_age_seconds) s += ", oldest " + short_age(*q.oldest_age_seconds);
  if (q.deferred) s += fmt::format(", deferred {}", *q.deferred);
  return s;
}

std::vector<std::string> help_lines() {
  return {
      "Keys",
      "  q            quit",
      "  Tab/S-Tab    next/previous view: Sessions, Queue, Spam, Events, Counters",
      "  Up/Down      select a row       PgUp/PgDn, Home/End   scroll",
      "  k            end the selected session (asks y/n first)",
      "  f            flush the relay queue (every entry due now)",
      "  p            pause/resume the display (data keeps being collected)",
      "  ?            this help (any key closes it)",
      "",
      "Rates are messages in the last minute; the graph has one column per minute.",
      "See shicks-top(1).",
  };
}

struct Header {
  std::vector<Line> lines;
};

// The title bar: program, host, version, uptime, database. What does not fit goes,
// least useful first (the database's mode and name, the word "shicksd"), so the
// rest is never cut in the middle; only a host name too long for any bar is.
std::string title_text(const Model& m, const UiState& ui, std::size_t cols) {
  std::string db_detail = m.db_mode().empty() ? "" : " (" + m.db_mode() + " " + m.db_name() + ")";
  for (int level = 0; level < 3; ++level) {
    std::string title = ui.paused ? " shicks-top [PAUSED]" : " shicks-top";
    if (!m.hostname().empty()) title += "  " + m.hostname();
    if (!m.version().empty()) title += (level < 2 ? "  shicksd " : "  ") + m.version();
    if (m.ever_connected()) title += "  up " + uptime_text(m.uptime_seconds());
    if (!m.db_state().empty()) title += "  db " + m.db_state() + (level < 1 ? db_detail : "");
    if (display_width(printable(title)) <= cols || level == 2) return title;
  }
  return {};
}

Header header(const Model& m, const UiState& ui, std::size_t cols) {
  Header h;
  h.lines.push_back({fit(title_text(m, ui, cols), cols), Style::bar});

  if (!m.connected()) {
    std::string text = "disconnected " + mdash(ui.utf8) + " retrying";
    if (!m.error().empty()) text += ": " + m.error();
    h.lines.push_back({fit(text, cols), Style::alert});
  } else if (m.db_state() == "down") {
    h.lines.push_back({fit("database down: " + m.db_error(), cols), Style::alert});
  } else {
    std::string text = fmt::format("connections: {} open, {} total   {}", m.connections_open(),
                                   m.connections_total(), queue_text(m));
    h.lines.push_back({fit(text, cols)});
  }
  for (auto& l : listener_lines(m, cols)) h.lines.push_back({fit(l, cols)});

  // Per-minute rates with their history.
  // Columns two blanks apart, so that the three headings read as three.
  constexpr std::size_t label = 10, now = 8, gaps = 4;
  std::size_t graph =
      cols > label + now + gaps ? std::min<std::size_t>(cols - label - now - gaps, Rate::kHistoryMinutes) : 0;
  auto rate_row = [&](std::string_view a, std::string_view b, std::string_view c) {
    return fit(a, label) + "  " + rfit(b, now) + "  " + std::string(c);
  };
  h.lines.push_back({fit(rate_row("RATE", "LAST MIN", "HISTORY, ONE COLUMN PER MINUTE"), cols), Style::heading});
  for (const auto& def : kRates) {
    const Rate* r = m.rate(def.counter);
    std::string text;
    if (!r) text = rate_row(def.label, "-", "(not reported by this shicksd)");
    else text = rate_row(def.label, std::to_string(r->last_minute()), sparkline(r->history(graph), ui.utf8));
    h.lines.push_back({fit(text, cols), r ? Style::normal : Style::dim});
  }

  // The tabs.
  Line tabs;
  for (View v : kViews) {
    std::string t = std::string(" ") + view_title(v) + " ";
    if (v == ui.view) {
      tabs.mark_begin = tabs.text.size();
      tabs.mark_len = t.size();
    }
    tabs.text += t;
  }
  tabs.text = fit(tabs.text, cols);
  h.lines.push_back(tabs);
  return h;
}

}  // namespace

std::size_t page_rows(const Model& m, std::size_t rows, std::size_t cols) {
  UiState scratch;
  std::size_t used = header(m, scratch, cols).lines.size() + 2;  // + table heading + status line
  return rows > used ? rows - used : 1;
}

std::vector<Line> layout(const Model& m, UiState& ui, std::size_t rows, std::size_t cols) {
  std::vector<Line> out = header(m, ui, cols).lines;
  std::size_t page = rows > out.size() + 2 ? rows - out.size() - 2 : 1;

  if (ui.help) {
    for (const auto& h : help_lines()) out.push_back({fit(h, cols), h == "Keys" ? Style::heading : Style::normal});
  } else {
    Rows r = view_rows(m, ui.view, cols, ui.utf8);
    Cursor& c = ui.cursor();
    c.follow(r.keys, page);
    out.push_back({fit(r.heading, cols), Style::heading});
    for (std::size_t i = c.top; i < r.rows.size() && i < c.top + page; ++i) {
      bool sel = i == c.selected && !r.keys[i].empty();
      out.push_back({fit(r.rows[i], cols), sel ? Style::selected : Style::normal});
    }
  }
  while (out.size() + 1 < rows) out.push_back({std::string(cols, ' ')});
  if (out.size() >= rows) out.resize(rows > 0 ? rows - 1 : 0);

  // The status line: a question, else the last message, else the keys.
  Line status;
  if (!ui.question.empty()) {
    status = {fit(" " + ui.question + " (y/n)", cols), Style::alert};
  } else if (!ui.message.empty()) {
    status = {fit(" " + ui.message, cols), Style::bar};
  } else {
    std::string keys = " q quit  Tab view  \xe2\x86\x91\xe2\x86\x93 select  k kill  f flush  p pause  ? help";
    if (!ui.utf8) keys = " q quit  Tab view  arrows select  k kill  f flush  p pause  ? help";
    status = {fit(keys, cols), Style::bar};
  }
  if (rows > 0) out.push_back(status);
  return out;
}

std::string selected_session(const Model& m, const UiState& ui) {
  if (ui.view != View::sessions) return {};
  const Cursor& c = ui.cursors[std::size_t(View::sessions)];
  for (const auto& s : m.sessions())
    if (s.id == c.key) return s.id;
  return {};
}

}  // namespace shicks::tui
