#include "ctl/format.hpp"

#include <algorithm>

#include "common/strings.hpp"

namespace shicks::ctl {

namespace {
// Length of the UTF-8 sequence starting at s[i], or 0 when it is not valid.
std::size_t sequence_length(std::string_view s, std::size_t i) {
  auto c = static_cast<unsigned char>(s[i]);
  std::size_t n = c < 0x80 ? 1 : (c >= 0xc2 && c <= 0xdf) ? 2 : (c >= 0xe0 && c <= 0xef) ? 3
                                                           : (c >= 0xf0 && c <= 0xf4) ? 4 : 0;
  if (n == 0 || i + n > s.size()) return 0;
  for (std::size_t k = 1; k < n; ++k)
    if ((static_cast<unsigned char>(s[i + k]) & 0xc0) != 0x80) return 0;
  return n;
}
}  // namespace

std::string printable(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size();) {
    std::size_t n = sequence_length(s, i);
    auto c = static_cast<unsigned char>(s[i]);
    if (n == 0 || c < 0x20 || c == 0x7f) {
      out.push_back('?');
      i += n ? n : 1;
      continue;
    }
    // C1 controls (U+0080..U+009F) are terminal controls too.
    if (n == 2 && c == 0xc2 && static_cast<unsigned char>(s[i + 1]) < 0xa0) {
      out.push_back('?');
      i += n;
      continue;
    }
    out.append(s.substr(i, n));
    i += n;
  }
  return out;
}

std::size_t display_width(std::string_view s) {
  std::size_t n = 0;
  for (char c : s)
    if ((static_cast<unsigned char>(c) & 0xc0) != 0x80) ++n;
  return n;
}

std::string shorten(std::string_view s, std::size_t width) {
  if (display_width(s) <= width) return std::string(s);
  if (width <= 3) return std::string(width, '.');
  std::string out;
  std::size_t cols = 0;
  for (std::size_t i = 0; i < s.size() && cols < width - 3;) {
    std::size_t n = 1;
    while (i + n < s.size() && (static_cast<unsigned char>(s[i + n]) & 0xc0) == 0x80) ++n;
    out.append(s.substr(i, n));
    i += n;
    ++cols;
  }
  return out + "...";
}

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

std::vector<std::string> keyword_lines(std::string_view text) {
  std::vector<std::string> out;
  for (std::string_view line : split(text, '\n')) {
    line = trim(line);
    if (line.empty() || line.front() == '#') continue;
    out.emplace_back(line);
  }
  return out;
}

std::string strip_line_end(std::string s) {
  if (!s.empty() && s.back() == '\n') {
    s.pop_back();
    if (!s.empty() && s.back() == '\r') s.pop_back();
  }
  return s;
}

std::string when(std::string_view iso) {
  if (iso.empty()) return "-";
  std::string out(iso);
  if (out.size() == 20 && out[10] == 'T' && out.back() == 'Z') {
    out[10] = ' ';
    out.pop_back();
  }
  return out;
}

std::string human_size(std::uint64_t bytes) { return human_bytes(bytes); }

std::string duration(std::uint64_t s) {
  std::string out;
  if (s >= 86400) out += std::to_string(s / 86400) + "d ";
  if (s >= 3600) out += std::to_string(s % 86400 / 3600) + "h ";
  if (s >= 60) out += std::to_string(s % 3600 / 60) + "m ";
  out += std::to_string(s % 60) + "s";
  return out;
}

}  // namespace shicks::ctl
