#pragma once
// The Subject of a message as a person reads it: found in the header section
// (RFC 5322 2.2, 3.6.5), unfolded (RFC 5322 2.2.3) and with RFC 2047 encoded-words
// decoded, as UTF-8. Pure code: no I/O, no clock.
//
// Decoding rules (decode_subject):
//   - Unfolding: a line break (CRLF, or a bare LF or CR) followed by a space or tab is
//     removed; any other line break becomes one space.
//   - Encoded-words "=?charset?B|Q?text?=" (RFC 2047 2, 4) are decoded wherever they
//     appear, also when glued to other text (as common mail readers do). The charset
//     may carry an RFC 2231 5 language suffix ("utf-8*en"). B is base64 with missing
//     padding tolerated; Q maps "_" to a space and "=XX" (either case) to a byte, and
//     keeps an "=" that is not followed by two hex digits as it is.
//   - Linear whitespace between two adjacent encoded-words is dropped (RFC 2047 6.2).
//     The decoded bytes of adjacent words with the same charset and encoding are joined
//     before conversion, so a character (or a base64 quantum) split across two words
//     still decodes, and a fold inside the encoded text of one word is skipped: both
//     are RFC 2047 violations that mailers produce.
//   - Malformed words (bad base64 characters, missing "?=", unknown encoding letter,
//     a charset neither known here nor to iconv) stay literal text (RFC 2047 6.2, 6.3).
//   - Charsets: UTF-8, US-ASCII, ISO-8859-1, ISO-8859-15 and Windows-1252 natively
//     (US-ASCII and ISO-8859-1 labels are read as Windows-1252, as the WHATWG Encoding
//     standard and mail readers do); any other through iconv (glibc). Bytes a declared
//     charset cannot decode become U+FFFD.
//   - Raw 8-bit text outside encoded-words (RFC 6532 allows UTF-8 there) is kept where
//     it is valid UTF-8; every other byte is read as Windows-1252, the usual charset of
//     unlabelled legacy mail. So the output is always valid UTF-8.
//   - Control characters (C0, DEL, C1) become spaces; leading and trailing whitespace
//     is removed.
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace shicks::spam {

// Longest raw Subject field body kept; the rest is ignored (truncated() says so).
// RFC 5322 2.1.1 limits a line to 998 octets; a folded field may span several lines.
inline constexpr std::size_t kMaxRawSubjectBytes = 16 * 1024;

// Finds the first Subject field in a header section fed in chunks of any size (a
// chunk boundary may fall anywhere, even between CR and LF). Bytes after the blank
// line that ends the header, or after the Subject field is complete, are ignored, so
// the driver may feed the whole message and stop once done().
class SubjectScanner {
 public:
  void feed(std::string_view bytes);
  // End of input: completes a Subject field that runs to the end.
  void finish();
  // The first Subject field is complete, or the header section has ended.
  bool done() const { return state_ == State::kDone; }

  // After done(): the raw field body after "Subject:" with its folds (CRLF or LF, as
  // received) kept, so decode_subject sees where lines were folded; nullopt if the
  // header has no Subject field.
  const std::optional<std::string>& raw_subject() const { return subject_; }
  bool truncated() const { return truncated_; }

 private:
  enum class State { kLineStart, kLineStartCr, kName, kNameEnd, kValue, kSkip, kDone };
  void on_byte(char c);
  void append_value(std::string_view bytes);
  void complete();

  State state_ = State::kLineStart;
  std::size_t name_pos_ = 0;   // octets of "subject" matched so far
  bool collecting_ = false;    // the field being read is the Subject
  bool value_cr_ = false;      // a CR in the value, not yet known to start a CRLF
  std::string pending_break_;  // the line break before a possible continuation line
  std::string value_;
  std::optional<std::string> subject_;
  bool truncated_ = false;
};

// The raw Subject field body of a whole header section (see SubjectScanner).
std::optional<std::string> find_raw_subject(std::string_view header);

// Unfolds and decodes a raw Subject field body (see the rules above). Also takes the
// subjects people type for `shicksctl spam test`, encoded or not.
std::string decode_subject(std::string_view raw);

// find_raw_subject + decode_subject.
std::optional<std::string> extract_subject(std::string_view header);

}  // namespace shicks::spam
