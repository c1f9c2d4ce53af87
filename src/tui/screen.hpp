#pragma once
// The terminal: the only part of shicks-top that knows ncurses (screen.cpp).
#include <cstddef>
#include <string>
#include <vector>

#include "tui/view.hpp"

namespace shicks::tui {

struct Key {
  enum Kind { none, character, up, down, page_up, page_down, home, end, tab, back_tab, resize };
  Kind kind = none;
  int ch = 0;  // for `character`
};

class Screen {
 public:
  Screen();  // initscr and friends; colours when the terminal has them
  ~Screen();  // endwin
  Screen(const Screen&) = delete;
  Screen& operator=(const Screen&) = delete;

  std::size_t rows() const;
  std::size_t cols() const;
  bool utf8() const { return utf8_; }
  // The next key, without waiting (Kind::none when there is none).
  Key key();
  void draw(const std::vector<Line>& lines);

 private:
  bool colours_ = false;
  bool utf8_ = false;
};

}  // namespace shicks::tui
