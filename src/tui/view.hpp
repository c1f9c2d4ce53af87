#pragma once
// shicks-top's screen as lines of text: which view is shown, the selected row, the
// help, the y/n question. Pure (screen.cpp paints these lines with ncurses), so the
// layout at 80x24 and at any other size is unit-tested.
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "tui/model.hpp"

namespace shicks::tui {

enum class View { sessions, queue, spam, events, counters };
inline constexpr std::array<View, 5> kViews = {View::sessions, View::queue, View::spam, View::events,
                                              View::counters};
const char* view_title(View v);  // "Sessions", ...
View next_view(View v, int step);  // Tab: +1, Shift-Tab: -1 (wraps)

enum class Style { normal, bar, heading, selected, alert, dim };

struct Line {
  std::string text;  // printable, at most the screen's width in columns
  Style style = Style::normal;
  // A part drawn as Style::selected (the current tab): byte offset and length.
  std::size_t mark_begin = 0, mark_len = 0;
};

// The selected row of a view and the first row on screen. The selection follows its
// row's key (a session id) when rows come and go.
struct Cursor {
  std::size_t selected = 0, top = 0;
  std::string key;
  int direction = 1;  // of the last move: a row without a key is passed that way

  void move(long delta, std::size_t count);
  // Re-finds `key` among `keys`, clamps, steps off a row without a key (an event's
  // continuation line) and scrolls so the selection is visible in a window of
  // `page` rows.
  void follow(const std::vector<std::string>& keys, std::size_t page);
};

struct UiState {
  View view = View::sessions;
  std::array<Cursor, kViews.size()> cursors{};
  bool paused = false;
  bool help = false;
  std::string question;  // a y/n question being asked ("end session p7 ...?")
  std::string message;   // the outcome of the last action
  std::string socket;    // the control socket's path
  bool utf8 = true;      // the terminal takes UTF-8 (graph blocks, the dash)

  Cursor& cursor() { return cursors[std::size_t(view)]; }
};

// A view's table: a heading, its rows and a key per row (for the selection).
struct Rows {
  std::string heading;
  std::vector<std::string> rows;
  std::vector<std::string> keys;
};
Rows view_rows(const Model& m, View v, std::size_t width, bool utf8);

// The whole screen, `rows` lines of at most `cols` columns. Updates the cursor of
// the current view (follow, scroll).
std::vector<Line> layout(const Model& m, UiState& ui, std::size_t rows, std::size_t cols);

// Rows of the table area at this screen size (PgUp/PgDn move by this much).
std::size_t page_rows(const Model& m, std::size_t rows, std::size_t cols);

// The session of the selected row in the sessions view, or "" (no session there).
std::string selected_session(const Model& m, const UiState& ui);

// ---- small text helpers (exposed for tests)
// Exactly `width` columns: cut (ending in "...") or padded with blanks.
std::string fit(std::string_view s, std::size_t width);
// "45s", "12m05s", "3h02m", "2d03h".
std::string short_age(std::uint64_t seconds);
// One character per value, scaled to the largest; blank for zero.
std::string sparkline(const std::vector<std::uint64_t>& values, bool utf8);

}  // namespace shicks::tui
