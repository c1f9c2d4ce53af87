#include "tui/screen.hpp"

#include <curses.h>
#include <langinfo.h>

#include <clocale>
#include <cstring>

namespace shicks::tui {

namespace {
enum Pair : short { kBar = 1, kHeading, kSelected, kAlert, kDim };

attr_t attributes(Style s, bool colours) {
  switch (s) {
    case Style::normal: return A_NORMAL;
    case Style::bar: return colours ? COLOR_PAIR(kBar) : A_REVERSE;
    case Style::heading: return colours ? (COLOR_PAIR(kHeading) | A_BOLD) : (A_BOLD | A_UNDERLINE);
    case Style::selected: return colours ? (COLOR_PAIR(kSelected) | A_BOLD) : (A_REVERSE | A_BOLD);
    case Style::alert: return colours ? (COLOR_PAIR(kAlert) | A_BOLD) : (A_BOLD | A_REVERSE);
    case Style::dim: return colours ? COLOR_PAIR(kDim) : A_DIM;
  }
  return A_NORMAL;
}
}  // namespace

Screen::Screen() {
  std::setlocale(LC_ALL, "");
  utf8_ = std::strcmp(nl_langinfo(CODESET), "UTF-8") == 0;
  set_escdelay(25);
  initscr();
  cbreak();
  noecho();
  nonl();
  keypad(stdscr, TRUE);
  nodelay(stdscr, TRUE);
  curs_set(0);
  if (has_colors() && start_color() == OK) {
    use_default_colors();
    colours_ = true;
    init_pair(kBar, COLOR_BLACK, COLOR_CYAN);
    init_pair(kHeading, COLOR_YELLOW, -1);
    init_pair(kSelected, COLOR_BLACK, COLOR_GREEN);
    init_pair(kAlert, COLOR_WHITE, COLOR_RED);
    init_pair(kDim, COLOR_BLUE, -1);
  }
}

Screen::~Screen() { endwin(); }

std::size_t Screen::rows() const { return LINES > 0 ? std::size_t(LINES) : 0; }
std::size_t Screen::cols() const { return COLS > 0 ? std::size_t(COLS) : 0; }

Key Screen::key() {
  int c = getch();
  switch (c) {
    case ERR: return {};
    case KEY_UP: return {Key::up};
    case KEY_DOWN: return {Key::down};
    case KEY_PPAGE: return {Key::page_up};
    case KEY_NPAGE: return {Key::page_down};
    case KEY_HOME: return {Key::home};
    case KEY_END: return {Key::end};
    case '\t': return {Key::tab};
    case KEY_BTAB: return {Key::back_tab};
    case KEY_RESIZE: return {Key::resize};
    default: return {Key::character, c};
  }
}

void Screen::draw(const std::vector<Line>& lines) {
  erase();
  int y = 0;
  for (const auto& l : lines) {
    if (y >= LINES) break;
    attr_t a = attributes(l.style, colours_);
    attron(a);
    mvaddnstr(y, 0, l.text.c_str(), int(l.text.size()));  // `fit` made it the screen's width
    attroff(a);
    if (l.mark_len && l.mark_begin + l.mark_len <= l.text.size()) {
      attr_t m = attributes(Style::selected, colours_);
      attron(m);
      // Tabs are ASCII: byte offsets are columns.
      mvaddnstr(y, int(l.mark_begin), l.text.c_str() + l.mark_begin, int(l.mark_len));
      attroff(m);
    }
    ++y;
  }
  refresh();
}

}  // namespace shicks::tui
