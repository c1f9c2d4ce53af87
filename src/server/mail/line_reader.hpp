#pragma once
// Frames SMTP/POP3 command lines out of a byte stream with a bounded buffer.
// Lines end with CRLF (a bare LF is accepted as a line end in command mode, a bare
// CR is data). A line longer than `max_line` (counted without its CRLF) is not
// buffered: its bytes are dropped until its end, and it is reported once as too long
// (-> 500 5.5.2) when that end arrives. Call next() until nullopt after each feed():
// the buffer then holds at most max_line + 2 bytes plus one feed's worth.
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace shicks::mail {

class LineReader {
 public:
  explicit LineReader(std::size_t max_line) : max_(max_line) {}

  struct Line {
    std::string text;       // without CRLF / LF
    bool too_long = false;  // text is empty then
  };

  // Appends bytes; call next() until it returns nullopt.
  void feed(std::string_view bytes);
  std::optional<Line> next();
  // Bytes received but not yet returned as a line (pipelined input); take() hands
  // them over (e.g. to the DATA decoder) and clears them.
  std::size_t buffered() const;
  std::string take();
  // Discards everything buffered (STARTTLS: RFC 3207 5 plaintext injection).
  void clear();

 private:
  std::size_t max_;
  std::string buf_;
  std::size_t scan_ = 0;       // where the search for the next line end resumes
  bool discarding_ = false;    // inside an over-long line
};

}  // namespace shicks::mail
