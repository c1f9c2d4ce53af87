// RFC 5321 4.1.1.4 (the end of mail data is CRLF "." CRLF) and 4.5.2 (transparency).
//
// A line starts only after CRLF (or at the very beginning, right after the 354
// reply). At a line start:
//   "." CRLF       ends the message; the preceding CRLF belongs to the message.
//   "." anything   the first dot is deleted (4.5.2: "the first character is deleted"),
//                  so ".." gives "." and ".x" gives "x" (a client that forgot to
//                  stuff loses the dot; that is what the RFC prescribes).
// Bare CR and bare LF (RFC 5321 2.3.8 forbids them) set bare_line_ending() and are
// kept as data: they never start a line, never end the message ("\n.\n", "\r.\r",
// "\n.\r\n" and "\r\n.\n" are all message content -- SMTP smuggling), and the
// session refuses the message at the end anyway.
//
// out receives the first max_size octets of the message and nothing beyond, for any
// split of the input, so memory stays bounded while size() keeps counting.
#include "server/smtp/data_decoder.hpp"

namespace shicks::smtp {

namespace {

enum State : int {
  kLineStart = 0,  // after CRLF
  kInLine,         // inside a line
  kCr,             // a CR is pending (not yet stored): CRLF or a bare CR
  kDot,            // "." at a line start, dropped
  kDotCr,          // "." CR at a line start: LF ends the message
};

class Sink {
 public:
  Sink(std::string& out, std::uint64_t& size, std::uint64_t max) : out_(out), size_(size), max_(max) {}
  void put(std::string_view s) {
    if (size_ < max_) {
      const std::uint64_t room = max_ - size_;
      out_.append(s.substr(0, room < s.size() ? static_cast<std::size_t>(room) : s.size()));
    }
    size_ += s.size();
  }

 private:
  std::string& out_;
  std::uint64_t& size_;
  std::uint64_t max_;
};

}  // namespace

std::size_t DataDecoder::feed(std::string_view in, std::string& out) {
  if (done_) return 0;
  Sink sink(out, size_, max_);
  std::size_t i = 0;
  while (i < in.size()) {
    if (state_ == kInLine) {
      // Fast path: copy the run of ordinary bytes at once.
      const auto end = in.find_first_of("\r\n", i);
      const std::size_t stop = end == std::string_view::npos ? in.size() : end;
      sink.put(in.substr(i, stop - i));
      i = stop;
      if (i == in.size()) break;
    }
    const char c = in[i++];
    switch (state_) {
      case kLineStart:
      case kInLine:
        if (c == '.' && state_ == kLineStart) {
          state_ = kDot;
        } else if (c == '\r') {
          state_ = kCr;
        } else {
          if (c == '\n') bare_ = true;
          sink.put(std::string_view(&c, 1));
          state_ = kInLine;
        }
        break;
      case kCr:
      case kDotCr:
        if (c == '\n') {
          if (state_ == kDotCr) {
            done_ = true;
            return i;
          }
          sink.put("\r\n");
          state_ = kLineStart;
          break;
        }
        // The pending CR was bare. It is stored; the dot of kDotCr stays deleted.
        bare_ = true;
        sink.put("\r");
        if (c == '\r') {
          state_ = kCr;
        } else {
          sink.put(std::string_view(&c, 1));
          state_ = kInLine;
        }
        break;
      case kDot:
        if (c == '\r') {
          state_ = kDotCr;
        } else {
          if (c == '\n') bare_ = true;
          sink.put(std::string_view(&c, 1));
          state_ = kInLine;
        }
        break;
    }
  }
  return i;
}

}  // namespace shicks::smtp
