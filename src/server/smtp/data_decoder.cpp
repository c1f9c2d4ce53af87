// RFC 5321 4.1.1.4 (the end of mail data is CRLF "." CRLF) and 4.5.2 (transparency).
//
// A line starts after CRLF (or at the very beginning, right after the 354 reply).
// At a line start:
//   "." CRLF       ends the message; the preceding CRLF belongs to the message.
//   "." anything   the first dot is deleted (4.5.2: "the first character is deleted"),
//                  so ".." gives "." and ".x" gives "x" (a client that forgot to
//                  stuff loses the dot; that is what the RFC prescribes).
// A bare CR (RFC 5321 2.3.8 forbids it) sets bare_line_ending() and is kept as data:
// it never starts a line and never ends the message ("\r.\r" is content -- SMTP
// smuggling), and the session refuses the message at the end anyway.
//
// A bare LF depends on the mode:
//   BareLf::reject     like a bare CR: data, flagged ("\n.\n", "\n.\r\n" and
//                      "\r\n.\n" are message content, and refused).
//   BareLf::normalise  a line end: stored as CRLF, and the next line is a line like
//                      any other, so its leading dot is deleted ("\n..x" gives
//                      CRLF ".x"). But it is never part of the end of data: only a
//                      dot line with a real CRLF on both sides ends the message, so
//                      "\n.\n", "\n.\r\n" and "\r\n.\n" are each stored as CRLF CRLF
//                      (an empty line: its dot deleted as at any line start) and the
//                      message goes on. The end is therefore found at the same byte
//                      in both modes.
// A NUL anywhere in the message sets nul() and is kept as data.
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
  kSoftStart,      // after a bare LF taken as a line end (normalise): a dot is dropped
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

// The bytes the fast path stops at (the NUL is counted, not otherwise special).
constexpr std::string_view kSpecial("\r\n\0", 3);

}  // namespace

std::size_t DataDecoder::feed(std::string_view in, std::string& out) {
  if (done_) return 0;
  Sink sink(out, size_, max_);
  // A bare LF (one not completing a CRLF), in whatever state it arrives.
  const auto bare_lf = [&] {
    if (normalise_) {
      sink.put("\r\n");
      ++normalised_;
      state_ = kSoftStart;
    } else {
      bare_ = true;
      sink.put("\n");
      state_ = kInLine;
    }
  };
  // An ordinary byte of a line, or a CR or LF inside one.
  const auto in_line = [&](char c) {
    if (c == '\r') {
      state_ = kCr;
    } else if (c == '\n') {
      bare_lf();
    } else {
      sink.put(std::string_view(&c, 1));
      state_ = kInLine;
    }
  };
  std::size_t i = 0;
  while (i < in.size()) {
    if (state_ == kInLine) {
      // Fast path: copy the run of ordinary bytes at once.
      const auto end = in.find_first_of(kSpecial, i);
      const std::size_t stop = end == std::string_view::npos ? in.size() : end;
      sink.put(in.substr(i, stop - i));
      i = stop;
      if (i == in.size()) break;
    }
    const char c = in[i++];
    if (c == '\0') nul_ = true;
    switch (state_) {
      case kLineStart:
        if (c == '.') state_ = kDot;
        else in_line(c);
        break;
      case kSoftStart:
        if (c == '.') state_ = kInLine;  // deleted; never the start of an end of data
        else in_line(c);
        break;
      case kInLine:
        in_line(c);
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
        // The pending CR was bare. It is stored; the dot of kDotCr stays deleted;
        // c is the next byte of the same line.
        bare_ = true;
        sink.put("\r");
        in_line(c);
        break;
      case kDot:
        if (c == '\r') state_ = kDotCr;
        else in_line(c);
        break;
    }
  }
  return i;
}

}  // namespace shicks::smtp
