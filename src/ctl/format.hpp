#pragma once
// shicksctl's output for people: aligned tables and the small helpers around them.
// Pure code (no sockets, no terminal), unit-tested. The text helpers it uses
// (printable, shorten, when, human_size) are in common/text.hpp.
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/text.hpp"

namespace shicks::ctl {

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

// A password line as read from stdin: the line end ("\n" or "\r\n") is not part of it.
std::string strip_line_end(std::string s);

}  // namespace shicks::ctl
