#pragma once
// The body of a RETR or TOP response (RFC 1939 3, 7): the message as stored, with a
// "." added in front of every line that starts with ".", a CRLF added if the message
// does not end with one, and ".\r\n" after it. Incremental: the driver streams the
// body from the store in chunks of any size (a boundary may fall anywhere, even
// between CR and LF), so a large message never sits in memory whole.
//
// For TOP msg n the output is the header, the blank line that ends it, and the first
// n lines of the body; done() then says the rest of the message need not be read.
//
// Stored messages have CRLF line ends (their LIST size counts them). A bare LF is
// still treated as a line end for stuffing, so no client that splits at LF can be
// fooled into seeing an early end of the response.
#include <cstdint>
#include <string>
#include <string_view>

namespace shicks::mail {

class DotStuffer {
 public:
  // top_lines < 0: the whole message (RETR); otherwise TOP with that many body lines.
  explicit DotStuffer(std::int64_t top_lines = -1);

  // Appends the stuffed form of `chunk` to `out`. Input after done() is ignored.
  void feed(std::string_view chunk, std::string& out);
  // TOP has emitted everything it will: stop reading the message.
  bool done() const { return done_; }
  // Appends the line end the message may lack and the terminating ".\r\n".
  void finish(std::string& out);

 private:
  void end_of_line(bool empty);

  std::int64_t body_lines_left_;  // < 0: no limit
  bool in_header_ = true;
  bool at_line_start_ = true;
  bool done_ = false;
  bool finished_ = false;
  char last_ = '\n';          // the last byte emitted (as if after a line end at the start)
  std::uint64_t line_len_ = 0;  // bytes of the current line so far, its line end excluded
};

}  // namespace shicks::mail
