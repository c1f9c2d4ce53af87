#include "ctl/format.hpp"

#include <algorithm>

#include "common/text.hpp"

namespace shicks::ctl {

Table::Table(std::vector<Column> columns, bool header) : columns_(std::move(columns)), header_(header) {}

void Table::add(std::vector<std::string> row) {
  row.resize(columns_.size());
  for (std::size_t i = 0; i < row.size(); ++i) {
    row[i] = printable(row[i]);
    if (columns_[i].max_width) row[i] = shorten(row[i], columns_[i].max_width);
  }
  rows_.push_back(std::move(row));
}

std::string Table::render() const {
  std::vector<std::size_t> width(columns_.size(), 0);
  if (header_)
    for (std::size_t i = 0; i < columns_.size(); ++i) width[i] = display_width(columns_[i].title);
  for (const auto& row : rows_)
    for (std::size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], display_width(row[i]));
  std::string out;
  auto line = [&](const std::vector<std::string>& cells) {
    std::string l;
    for (std::size_t i = 0; i < cells.size(); ++i) {
      std::size_t pad = width[i] - display_width(cells[i]);
      if (i) l += "  ";
      if (columns_[i].align == right) l.append(pad, ' ');
      l += cells[i];
      if (columns_[i].align == left) l.append(pad, ' ');
    }
    while (!l.empty() && l.back() == ' ') l.pop_back();
    out += l + "\n";
  };
  if (header_) {
    std::vector<std::string> titles;
    for (const auto& c : columns_) titles.push_back(c.title);
    line(titles);
  }
  for (const auto& row : rows_) line(row);
  return out;
}

std::string fields(const std::vector<std::pair<std::string, std::string>>& kv) {
  Table t({{""}, {""}}, false);
  for (const auto& [k, v] : kv) t.add({k + ":", v});
  return t.render();
}

std::string strip_line_end(std::string s) {
  if (!s.empty() && s.back() == '\n') {
    s.pop_back();
    if (!s.empty() && s.back() == '\r') s.pop_back();
  }
  return s;
}

}  // namespace shicks::ctl
