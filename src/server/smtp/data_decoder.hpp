#pragma once
// The DATA phase (RFC 5321 4.1.1.4, 4.5.2): undoes dot-stuffing and finds the end of
// the message. Only CRLF "." CRLF ends it (SMTP smuggling: a bare LF or CR never
// does, whatever the mode). Incremental and pure: bytes in, message bytes out, any
// split of the input gives the same result.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace shicks::smtp {

// What a bare LF (an LF not preceded by CR) in the message is.
enum class BareLf {
  reject,     // content, flagged by bare_line_ending(): the message is refused
  normalise,  // a line end, stored as CRLF (never part of the end of data)
};

class DataDecoder {
 public:
  // `max_size`: octets of message beyond which the message is refused (the bytes
  // are still consumed up to the terminator, and not kept).
  explicit DataDecoder(std::uint64_t max_size, BareLf bare_lf = BareLf::reject)
      : max_(max_size), normalise_(bare_lf == BareLf::normalise) {}

  // Consumes bytes up to and including the terminating CRLF.CRLF and appends the
  // message to `out` (CRLF line ends kept; the message's last CRLF is kept, the
  // ".\r\n" is not). Returns how many bytes of `in` were consumed: fewer than
  // in.size() only when the end was found (what follows is the next command).
  // Only the first max_size octets of the message ever reach `out`.
  std::size_t feed(std::string_view in, std::string& out);

  bool done() const { return done_; }
  // A CR not followed by LF, or (BareLf::reject) an LF not preceded by CR, was seen
  // (-> 550 5.5.2 at the end; nothing is stored).
  bool bare_line_ending() const { return bare_; }
  // A NUL octet was in the message, anywhere, kept or not (-> 554 5.6.0).
  bool nul() const { return nul_; }
  // Bare LFs stored as CRLF (BareLf::normalise).
  std::uint64_t normalised_line_ends() const { return normalised_; }
  bool too_big() const { return size_ > max_; }
  // Octets of the message as it would be stored (after unstuffing and normalising),
  // counted even past max_size.
  std::uint64_t size() const { return size_; }

 private:
  std::uint64_t max_;
  bool normalise_;
  std::uint64_t size_ = 0;
  std::uint64_t normalised_ = 0;
  int state_ = 0;  // position in the line-start / CR / LF / dot automaton
  bool done_ = false;
  bool bare_ = false;
  bool nul_ = false;
};

}  // namespace shicks::smtp
