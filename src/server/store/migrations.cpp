#include "server/store/migrations.hpp"

#include <fmt/core.h>

#include "common/strings.hpp"

namespace shicks::store {

std::string check_sequence(const std::vector<Migration>& list) {
  int expected = 1;
  for (const auto& m : list) {
    if (m.version != expected)
      return fmt::format("migration {} has version {}, expected {}", m.name, m.version, expected);
    ++expected;
  }
  return {};
}

std::vector<std::string> split_statements(std::string_view text) {
  std::vector<std::string> out;
  std::string current;
  char quote = 0;
  bool line_comment = false;
  auto flush = [&] {
    std::string_view t = trim(current);
    if (!t.empty()) out.emplace_back(t);
    current.clear();
  };
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (line_comment) {
      if (c == '\n') line_comment = false;
      continue;
    }
    if (quote) {
      current += c;
      if (c == '\\' && i + 1 < text.size()) {
        current += text[++i];
      } else if (c == quote) {
        quote = 0;
      }
      continue;
    }
    if (c == '-' && i + 1 < text.size() && text[i + 1] == '-') {
      line_comment = true;
      continue;
    }
    if (c == '\'' || c == '"' || c == '`') {
      quote = c;
      current += c;
      continue;
    }
    if (c == ';') {
      flush();
      continue;
    }
    current += c;
  }
  flush();
  return out;
}

}  // namespace shicks::store
