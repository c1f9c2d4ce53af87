#include "common/text.hpp"

#include "common/strings.hpp"

namespace shicks {

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

}  // namespace shicks
