#pragma once
// shicksctl's output for people: aligned tables and the small helpers around them.
// Pure code (no sockets, no terminal), unit-tested.
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace shicks::ctl {

// Text from the daemon may hold anything a mail carried (a Subject with escape
// sequences): control characters become '?' and invalid UTF-8 bytes become '?', so
// nothing printed can drive the terminal.
std::string printable(std::string_view s);
// Width on a terminal, counted in code points (good enough for the text we print).
std::size_t display_width(std::string_view s);
// At most `width` columns; a cut ends in "...".
std::string shorten(std::string_view s, std::size_t width);

class Table {
 public:
  enum Align { left, right };
  struct Column {
    std::string title;
    Align align = left;
    std::size_t max_width = 0;  // 0: as wide as the widest cell
  };
  explicit Table(std::vector<Column> columns, bool header = true);
  // Cells are made printable and cut to the column's max_width.
  void add(std::vector<std::string> row);
  bool empty() const { return rows_.empty(); }
  // Columns separated by two blanks, no trailing blanks, one '\n' per line.
  std::string render() const;

 private:
  std::vector<Column> columns_;
  bool header_;
  std::vector<std::vector<std::string>> rows_;
};

// "name: value" lines with the values aligned (a Table without header).
std::string fields(const std::vector<std::pair<std::string, std::string>>& kv);

// A spam keyword file: one keyword per line; blank lines and lines whose first
// non-blank character is '#' are skipped; blanks around a keyword are removed
// (CRLF line ends are fine).
std::vector<std::string> keyword_lines(std::string_view text);

// A password line as read from stdin: the line end ("\n" or "\r\n") is not part of it.
std::string strip_line_end(std::string s);

// "2026-11-24T06:10:00Z" -> "2026-11-24 06:10:00"; "" and null-ish stay "-".
std::string when(std::string_view iso);
// "12.3 KiB"
std::string human_size(std::uint64_t bytes);
// "3d 4h 5m 6s"
std::string duration(std::uint64_t seconds);

}  // namespace shicks::ctl
