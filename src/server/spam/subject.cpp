#include "server/spam/subject.hpp"

#include <iconv.h>

#include <array>
#include <cerrno>
#include <cstdint>
#include <memory>

#include "common/strings.hpp"
#include "server/spam/utf8.hpp"

namespace shicks::spam {

// ---------------------------------------------------------------- SubjectScanner

void SubjectScanner::feed(std::string_view bytes) {
  for (std::size_t i = 0; i < bytes.size() && state_ != State::kDone; ++i) {
    if (state_ == State::kSkip) {
      // Another field: nothing to look at before its line ends.
      const std::size_t nl = bytes.find('\n', i);
      if (nl == std::string_view::npos) return;
      i = nl;
    }
    on_byte(bytes[i]);
  }
}

void SubjectScanner::on_byte(char c) {
  switch (state_) {
    case State::kLineStart:
      if (c == '\r') {
        state_ = State::kLineStartCr;
      } else if (c == '\n') {
        // An empty line ends the header section (RFC 5322 2.1).
        complete();
      } else if (c == ' ' || c == '\t') {
        // RFC 5322 2.2.3: a line that starts with WSP continues the field before it.
        if (collecting_) {
          append_value(pending_break_);
          append_value(std::string_view(&c, 1));
          state_ = State::kValue;
        } else {
          state_ = State::kSkip;
        }
      } else if (collecting_) {
        complete();  // the next field starts: the Subject is whole
      } else {
        state_ = State::kName;
        name_pos_ = 0;
        on_byte(c);
      }
      return;

    case State::kLineStartCr:
      if (c == '\n' || collecting_) {
        complete();  // CRLF: the blank line; or a CR that starts a new (odd) line
      } else {
        state_ = State::kSkip;
      }
      return;

    case State::kName: {
      static constexpr std::string_view kField = "subject";
      if (name_pos_ < kField.size()) {
        if (ascii_lower(c) == kField[name_pos_]) {
          ++name_pos_;
          return;
        }
        state_ = c == '\n' ? State::kLineStart : State::kSkip;
        return;
      }
      state_ = State::kNameEnd;
      on_byte(c);
      return;
    }

    case State::kNameEnd:
      // RFC 5322 4.5.3 (obs-subject): WSP may come before the colon.
      if (c == ' ' || c == '\t') return;
      if (c == ':') {
        collecting_ = true;
        state_ = State::kValue;
        return;
      }
      state_ = c == '\n' ? State::kLineStart : State::kSkip;
      return;

    case State::kValue:
      if (c == '\n') {
        pending_break_ = value_cr_ ? "\r\n" : "\n";
        value_cr_ = false;
        state_ = State::kLineStart;
        return;
      }
      if (value_cr_) append_value("\r");
      value_cr_ = c == '\r';
      if (!value_cr_) append_value(std::string_view(&c, 1));
      return;

    case State::kSkip:
      if (c == '\n') state_ = State::kLineStart;
      return;

    case State::kDone:
      return;
  }
}

void SubjectScanner::append_value(std::string_view bytes) {
  const std::size_t room = kMaxRawSubjectBytes - value_.size();
  if (bytes.size() > room) {
    truncated_ = true;
    bytes = bytes.substr(0, room);
  }
  value_.append(bytes);
}

void SubjectScanner::complete() {
  if (collecting_) subject_ = std::move(value_);
  collecting_ = false;
  state_ = State::kDone;
}

void SubjectScanner::finish() {
  if (state_ != State::kDone) complete();  // a dangling CR at the very end is dropped
}

std::optional<std::string> find_raw_subject(std::string_view header) {
  SubjectScanner scanner;
  scanner.feed(header);
  scanner.finish();
  return scanner.raw_subject();
}

std::optional<std::string> extract_subject(std::string_view header) {
  auto raw = find_raw_subject(header);
  if (!raw) return std::nullopt;
  return decode_subject(*raw);
}

// ---------------------------------------------------------------- decoding

namespace {

constexpr bool is_wsp(char c) { return c == ' ' || c == '\t'; }
constexpr bool is_line_break(char c) { return c == '\r' || c == '\n'; }

// Windows-1252 0x80-0x9F (WHATWG index); the five unassigned bytes map to the C1
// control of the same value, as in the WHATWG decoder.
constexpr std::array<char16_t, 32> kWindows1252High = {
    0x20AC, 0x0081, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021,
    0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0x008D, 0x017D, 0x008F,
    0x0090, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014,
    0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x009D, 0x017E, 0x0178};

char32_t windows1252(unsigned char b) {
  if (b >= 0x80 && b <= 0x9F) return kWindows1252High[b - 0x80];
  return b;
}

// ISO-8859-15 differs from ISO-8859-1 in eight positions (ISO/IEC 8859-15 table).
char32_t iso8859_15(unsigned char b) {
  switch (b) {
    case 0xA4: return 0x20AC;
    case 0xA6: return 0x0160;
    case 0xA8: return 0x0161;
    case 0xB4: return 0x017D;
    case 0xB8: return 0x017E;
    case 0xBC: return 0x0152;
    case 0xBD: return 0x0153;
    case 0xBE: return 0x0178;
    default: return b;
  }
}

// Every character reaches the output through here: controls become spaces.
void emit(std::string& out, char32_t cp) {
  if (cp < 0x20 || (cp >= 0x7F && cp <= 0x9F)) cp = ' ';
  append_utf8(out, cp);
}

enum class Invalid { kWindows1252, kReplace };

// UTF-8 as it is where valid; each other byte read as Windows-1252 or replaced.
void emit_utf8(std::string& out, std::string_view bytes, Invalid invalid) {
  for (std::size_t i = 0, len = 0; i < bytes.size(); i += len) {
    char32_t cp = decode_utf8(bytes, i, len);
    if (cp == kInvalidCodePoint)
      cp = invalid == Invalid::kWindows1252 ? windows1252(static_cast<unsigned char>(bytes[i])) : kReplacementChar;
    emit(out, cp);
  }
}

enum class Charset { kUtf8, kWindows1252, kIso8859_15, kIconv };

// The charsets decoded natively, by their IANA names and common aliases (lowercase).
struct CharsetName {
  std::string_view name;
  Charset charset;
};
constexpr CharsetName kNativeCharsets[] = {
    {"utf-8", Charset::kUtf8},
    {"utf8", Charset::kUtf8},
    {"us-ascii", Charset::kWindows1252},
    {"ascii", Charset::kWindows1252},
    {"ansi_x3.4-1968", Charset::kWindows1252},
    {"iso-8859-1", Charset::kWindows1252},
    {"iso8859-1", Charset::kWindows1252},
    {"iso_8859-1", Charset::kWindows1252},
    {"latin1", Charset::kWindows1252},
    {"latin-1", Charset::kWindows1252},
    {"l1", Charset::kWindows1252},
    {"cp819", Charset::kWindows1252},
    {"windows-1252", Charset::kWindows1252},
    {"cp1252", Charset::kWindows1252},
    {"x-cp1252", Charset::kWindows1252},
    {"iso-8859-15", Charset::kIso8859_15},
    {"iso8859-15", Charset::kIso8859_15},
    {"iso_8859-15", Charset::kIso8859_15},
    {"latin-9", Charset::kIso8859_15},
    {"latin9", Charset::kIso8859_15},
    {"l9", Charset::kIso8859_15},
};

// A charset name iconv may be asked about: short, and only characters that occur in
// IANA charset names, so no "//" option suffix or path reaches iconv_open.
bool plausible_charset_name(std::string_view name) {
  if (name.empty() || name.size() > 40) return false;
  for (char c : name)
    if (!(is_ascii_alpha(c) || is_ascii_digit(c) || c == '-' || c == '_' || c == ':' || c == '+')) return false;
  return true;
}

// An iconv conversion from one charset to UTF-8; each instance is used by one thread.
class Iconv {
 public:
  explicit Iconv(const std::string& from) : cd_(iconv_open("UTF-8", from.c_str())) {}
  ~Iconv() {
    if (ok()) iconv_close(cd_);
  }
  Iconv(const Iconv&) = delete;
  Iconv& operator=(const Iconv&) = delete;

  bool ok() const { return cd_ != reinterpret_cast<iconv_t>(-1); }

  // Converts `in` to UTF-8 (not yet checked); input iconv cannot convert becomes
  // U+FFFD, one per byte skipped.
  std::string convert(std::string_view in) {
    std::string out;
    std::array<char, 1024> buf;
    const auto take = [&](char* dst) { out.append(buf.data(), dst - buf.data()); };
    iconv(cd_, nullptr, nullptr, nullptr, nullptr);  // the initial shift state
    char* src = const_cast<char*>(in.data());        // iconv's signature; never written
    std::size_t src_left = in.size();
    while (src_left > 0) {
      char* dst = buf.data();
      std::size_t dst_left = buf.size();
      const std::size_t rc = iconv(cd_, &src, &src_left, &dst, &dst_left);
      const int err = errno;
      take(dst);
      if (rc != static_cast<std::size_t>(-1) || err == E2BIG) continue;
      append_utf8(out, kReplacementChar);
      if (err != EILSEQ) break;  // EINVAL: an incomplete sequence at the end
      ++src;
      --src_left;
    }
    char* dst = buf.data();
    std::size_t dst_left = buf.size();
    iconv(cd_, nullptr, nullptr, &dst, &dst_left);  // back to the initial state
    take(dst);
    return out;
  }

 private:
  iconv_t cd_;
};

// RFC 2047 2: especials may not appear in a charset token.
constexpr bool is_token_char(char c) {
  if (c <= ' ' || c >= 0x7F) return false;
  constexpr std::string_view kEspecials = "()<>@,;:\"/[]?.=";
  return kEspecials.find(c) == std::string_view::npos;
}

constexpr bool is_base64_char(char c) {
  return is_ascii_alpha(c) || is_ascii_digit(c) || c == '+' || c == '/' || c == '=';
}

struct EncodedWord {
  std::string_view charset;  // without an RFC 2231 language suffix
  char encoding;             // 'b' or 'q'
  std::string text;          // the encoded text, folds inside it removed
  std::size_t end;           // index after "?="
};

// RFC 2047 2: encoded-word = "=?" charset "?" encoding "?" encoded-text "?=", at s[pos].
std::optional<EncodedWord> parse_encoded_word(std::string_view s, std::size_t pos) {
  std::size_t i = pos + 2;
  const std::size_t charset_begin = i;
  while (i < s.size() && is_token_char(s[i]) && i - charset_begin < 64) ++i;
  if (i == charset_begin || i + 3 > s.size() || s[i] != '?' || s[i + 2] != '?') return std::nullopt;
  std::string_view charset = s.substr(charset_begin, i - charset_begin);
  charset = charset.substr(0, charset.find('*'));  // RFC 2231 5: charset*language
  if (charset.empty()) return std::nullopt;
  const char encoding = ascii_lower(s[i + 1]);
  if (encoding != 'b' && encoding != 'q') return std::nullopt;

  EncodedWord word{charset, encoding, {}, 0};
  for (i += 3; i < s.size();) {
    const char c = s[i];
    if (c == '?') {
      if (i + 1 < s.size() && s[i + 1] == '=') {
        word.end = i + 2;
        return word;
      }
      return std::nullopt;
    }
    if (is_line_break(c)) {
      // A fold inside the encoded text (RFC 2047 2 forbids it; mailers do it anyway).
      std::size_t j = i + 1;
      if (c == '\r' && j < s.size() && s[j] == '\n') ++j;
      if (j >= s.size() || !is_wsp(s[j])) return std::nullopt;
      while (j < s.size() && is_wsp(s[j])) ++j;
      i = j;
      continue;
    }
    if (c <= ' ' || c >= 0x7F) return std::nullopt;
    if (encoding == 'b' && !is_base64_char(c)) return std::nullopt;
    word.text += c;
    ++i;
  }
  return std::nullopt;  // no "?="
}

int hex_value(char c) {
  if (is_ascii_digit(c)) return c - '0';
  c = ascii_lower(c);
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

// Adjacent encoded-words with one charset and encoding: their bytes, joined.
class Run {
 public:
  Run(Charset charset, std::string_view name, char encoding, std::unique_ptr<Iconv> iconv)
      : charset_(charset), name_(to_lower_ascii(name)), encoding_(encoding), iconv_(std::move(iconv)) {}

  bool continues_with(std::string_view name, char encoding) const {
    return encoding == encoding_ && iequals_ascii(name, name_);
  }

  void add(std::string_view text) {
    if (encoding_ == 'q') {
      add_q(text);
    } else {
      for (char c : text) add_base64(c);
    }
  }

  void finish(std::string& out) {
    flush_base64_quantum();
    switch (charset_) {
      case Charset::kUtf8:
        emit_utf8(out, bytes_, Invalid::kReplace);
        break;
      case Charset::kWindows1252:
        for (char c : bytes_) emit(out, windows1252(static_cast<unsigned char>(c)));
        break;
      case Charset::kIso8859_15:
        for (char c : bytes_) emit(out, iso8859_15(static_cast<unsigned char>(c)));
        break;
      case Charset::kIconv:
        emit_utf8(out, iconv_->convert(bytes_), Invalid::kReplace);
        break;
    }
  }

 private:
  // RFC 2047 4.2: "_" is a space, "=XX" a byte in hex (either case is accepted); an
  // "=" without two hex digits after it is kept as it is.
  void add_q(std::string_view text) {
    for (std::size_t i = 0; i < text.size(); ++i) {
      const char c = text[i];
      if (c == '_') {
        bytes_ += ' ';
      } else if (c == '=' && i + 2 < text.size() && hex_value(text[i + 1]) >= 0 && hex_value(text[i + 2]) >= 0) {
        bytes_ += static_cast<char>(hex_value(text[i + 1]) * 16 + hex_value(text[i + 2]));
        i += 2;
      } else {
        bytes_ += c;
      }
    }
  }

  // RFC 2047 4.1 (RFC 4648 4), leniently (common/base64 is strict, as SASL wants):
  // "=" ends a quantum wherever it is, a quantum left open at the end of a word
  // continues in the next word of the run, and one left open at the end of the run
  // yields the whole bytes it holds.
  void add_base64(char c) {
    if (c == '=') {
      flush_base64_quantum();
      return;
    }
    std::uint32_t v;
    if (c >= 'A' && c <= 'Z') v = c - 'A';
    else if (c >= 'a' && c <= 'z') v = c - 'a' + 26;
    else if (c >= '0' && c <= '9') v = c - '0' + 52;
    else v = c == '+' ? 62 : 63;
    acc_ = (acc_ << 6) | v;
    if (++sextets_ == 4) {
      bytes_ += static_cast<char>((acc_ >> 16) & 0xFF);
      bytes_ += static_cast<char>((acc_ >> 8) & 0xFF);
      bytes_ += static_cast<char>(acc_ & 0xFF);
      acc_ = 0;
      sextets_ = 0;
    }
  }

  void flush_base64_quantum() {
    if (sextets_ == 2) {
      bytes_ += static_cast<char>((acc_ >> 4) & 0xFF);
    } else if (sextets_ == 3) {
      bytes_ += static_cast<char>((acc_ >> 10) & 0xFF);
      bytes_ += static_cast<char>((acc_ >> 2) & 0xFF);
    }
    acc_ = 0;
    sextets_ = 0;
  }

  Charset charset_;
  std::string name_;
  char encoding_;
  std::unique_ptr<Iconv> iconv_;
  std::string bytes_;
  std::uint32_t acc_ = 0;
  int sextets_ = 0;
};

class Decoder {
 public:
  explicit Decoder(std::string_view raw) : raw_(raw) {}

  std::string decode() {
    std::size_t i = 0;
    while (i < raw_.size()) {
      const char c = raw_[i];
      if (c == '=' && i + 1 < raw_.size() && raw_[i + 1] == '?' && take_encoded_word(i)) continue;
      if (is_wsp(c) || is_line_break(c)) {
        i = take_whitespace(i);
        continue;
      }
      // Literal text up to the next whitespace or possible encoded-word. Neither
      // "=" nor whitespace can occur inside a UTF-8 sequence, so none is split.
      std::size_t j = i + 1;
      while (j < raw_.size() && !is_wsp(raw_[j]) && !is_line_break(raw_[j]) &&
             !(raw_[j] == '=' && j + 1 < raw_.size() && raw_[j + 1] == '?'))
        ++j;
      end_words();
      emit_utf8(out_, raw_.substr(i, j - i), Invalid::kWindows1252);
      i = j;
    }
    run_finish();  // whitespace after the last encoded-word is trailing: dropped

    const std::size_t first = out_.find_first_not_of(' ');
    if (first == std::string::npos) return {};
    return out_.substr(first, out_.find_last_not_of(' ') + 1 - first);
  }

 private:
  // Decodes the encoded-word at i into the current run and advances i; false when
  // there is none (malformed, or a charset nobody here knows: then it is text).
  bool take_encoded_word(std::size_t& i) {
    auto word = parse_encoded_word(raw_, i);
    if (!word) return false;
    if (!run_ || !run_->continues_with(word->charset, word->encoding)) {
      auto run = start_run(word->charset, word->encoding);
      if (!run) return false;
      run_finish();
      run_ = std::move(run);
    }
    pending_space_.clear();  // RFC 2047 6.2: whitespace between encoded-words is dropped
    run_->add(word->text);
    after_word_ = true;
    i = word->end;
    return true;
  }

  static std::unique_ptr<Run> start_run(std::string_view charset, char encoding) {
    for (const auto& native : kNativeCharsets)
      if (iequals_ascii(charset, native.name)) return std::make_unique<Run>(native.charset, charset, encoding, nullptr);
    if (!plausible_charset_name(charset)) return nullptr;
    auto iconv = std::make_unique<Iconv>(std::string(charset));
    if (!iconv->ok()) return nullptr;
    return std::make_unique<Run>(Charset::kIconv, charset, encoding, std::move(iconv));
  }

  // A space, a tab, or a line break: RFC 5322 2.2.3 unfolding removes a line break
  // followed by WSP; any other line break stands for one space.
  std::size_t take_whitespace(std::size_t i) {
    std::string_view piece;
    std::size_t next = i + 1;
    if (is_wsp(raw_[i])) {
      piece = " ";
    } else {
      if (raw_[i] == '\r' && next < raw_.size() && raw_[next] == '\n') ++next;
      piece = next < raw_.size() && is_wsp(raw_[next]) ? "" : " ";
    }
    if (after_word_) {
      pending_space_ += piece;  // dropped if another encoded-word follows
    } else {
      out_ += piece;
    }
    return next;
  }

  // Text that is not an encoded-word follows: the run is over, its whitespace stays.
  void end_words() {
    run_finish();
    out_ += pending_space_;
    pending_space_.clear();
    after_word_ = false;
  }

  void run_finish() {
    if (run_) run_->finish(out_);
    run_.reset();
  }

  std::string_view raw_;
  std::string out_;
  std::unique_ptr<Run> run_;
  std::string pending_space_;
  bool after_word_ = false;
};

}  // namespace

std::string decode_subject(std::string_view raw) { return Decoder(raw).decode(); }

}  // namespace shicks::spam
