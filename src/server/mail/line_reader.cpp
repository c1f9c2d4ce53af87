// Command-line framing (RFC 5321 2.3.8, 4.1.1: lines end with CRLF). Bare LF is
// accepted as a line end in command mode (a CR before it is stripped, a lone CR is
// data and reaches the command parser, which refuses it as a control byte).
//
// Memory: buf_ holds at most max_line + 2 bytes of an unfinished line plus what one
// feed() brought. Once a line is known to be longer than max_line, its bytes are
// dropped as they arrive (feed() keeps only what follows its LF), and next() reports
// it as too_long when its LF arrives, so the reply stays in step with pipelined
// commands (RFC 2920 3).
#include "server/mail/line_reader.hpp"

namespace shicks::mail {

void LineReader::feed(std::string_view bytes) {
  if (discarding_ && buf_.empty()) {
    const auto lf = bytes.find('\n');
    if (lf == std::string_view::npos) return;  // still inside the over-long line
    bytes.remove_prefix(lf);                    // keep its LF: next() reports the line
  }
  buf_.append(bytes);
}

std::optional<LineReader::Line> LineReader::next() {
  const auto lf = buf_.find('\n', scan_);
  if (lf == std::string::npos) {
    scan_ = buf_.size();
    // `max_` octets of text plus a CR that may still be followed by LF is the most
    // a line in progress can hold.
    const bool too_long = buf_.size() > max_ + 1 || (buf_.size() == max_ + 1 && buf_.back() != '\r');
    if (!discarding_ && too_long) {
      discarding_ = true;
      buf_.clear();
      scan_ = 0;
    } else if (discarding_) {
      buf_.clear();
      scan_ = 0;
    }
    return std::nullopt;
  }
  std::size_t len = lf;
  if (len > 0 && buf_[len - 1] == '\r') --len;
  Line line;
  if (discarding_ || len > max_) {
    line.too_long = true;
  } else {
    line.text.assign(buf_, 0, len);
  }
  buf_.erase(0, lf + 1);
  scan_ = 0;
  discarding_ = false;
  return line;
}

std::size_t LineReader::buffered() const { return buf_.size(); }

std::string LineReader::take() {
  std::string out = std::move(buf_);
  clear();
  return out;
}

void LineReader::clear() {
  buf_.clear();
  scan_ = 0;
  discarding_ = false;
}

}  // namespace shicks::mail
