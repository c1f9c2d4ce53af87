#include "server/mail/dot_stuffer.hpp"

#include <cassert>

namespace shicks::mail {

DotStuffer::DotStuffer(std::int64_t top_lines) : body_lines_left_(top_lines) {}

void DotStuffer::feed(std::string_view chunk, std::string& out) {
  assert(!finished_);
  std::size_t i = 0;
  while (i < chunk.size() && !done_) {
    if (at_line_start_) {
      // RFC 1939 3: a line of a multi-line response that begins with the
      // termination octet is byte-stuffed.
      if (chunk[i] == '.') out += '.';
      at_line_start_ = false;
      line_len_ = 0;
    }
    std::size_t nl = chunk.find('\n', i);
    if (nl == std::string_view::npos) {
      out.append(chunk.substr(i));
      line_len_ += chunk.size() - i;
      last_ = chunk.back();
      return;
    }
    out.append(chunk.substr(i, nl + 1 - i));
    std::uint64_t content = line_len_ + (nl - i);  // octets before the LF
    bool cr_before = nl > i ? chunk[nl - 1] == '\r' : last_ == '\r';
    last_ = '\n';
    at_line_start_ = true;
    end_of_line(content == 0 || (content == 1 && cr_before));
    i = nl + 1;
  }
}

void DotStuffer::end_of_line(bool empty) {
  if (body_lines_left_ < 0) return;
  if (in_header_) {
    // RFC 1939 7 (TOP): the headers, the blank line separating them from the
    // body, then the requested number of body lines.
    if (!empty) return;
    in_header_ = false;
  } else {
    --body_lines_left_;
  }
  if (body_lines_left_ == 0) done_ = true;
}

void DotStuffer::finish(std::string& out) {
  assert(!finished_);
  finished_ = true;
  if (last_ != '\n') out += "\r\n";
  out += ".\r\n";
}

}  // namespace shicks::mail
