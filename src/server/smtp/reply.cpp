#include "server/smtp/reply.hpp"

#include <string_view>

namespace shicks::smtp {

namespace {

// A reply line may quote client input (a keyword, a mechanism name). CR, LF or any
// other control byte there would end the line early or forge a reply of our own
// (RFC 5321 4.2: a reply line is text up to CRLF), so they are shown as '?'.
void append_text(std::string& out, std::string_view text) {
  for (char c : text) {
    auto u = static_cast<unsigned char>(c);
    out.push_back(u < 0x20 || u == 0x7f ? '?' : c);
  }
}

}  // namespace

// RFC 5321 4.2.1: every line but the last is "CODE-text", the last "CODE text".
// RFC 2034 3: the enhanced status code starts the text of every line.
std::string Reply::render() const {
  const std::string code_text = std::to_string(code);
  std::string out;
  const std::size_t n = lines.empty() ? 1 : lines.size();
  for (std::size_t i = 0; i < n; ++i) {
    const std::string_view text = lines.empty() ? std::string_view() : std::string_view(lines[i]);
    out += code_text;
    const bool last = i + 1 == n;
    if (status.empty() && text.empty()) {
      // An explicitly empty last line keeps its separator: RFC 4954 4 shows the empty
      // SASL challenge as "334 " and some clients wait for exactly that.
      if (!last) out.push_back('-');
      else if (!lines.empty()) out.push_back(' ');
    } else {
      out.push_back(last ? ' ' : '-');
      out += status;
      if (!status.empty() && !text.empty()) out.push_back(' ');
      append_text(out, text);
    }
    out += "\r\n";
  }
  return out;
}

}  // namespace shicks::smtp
