// Fuzz target for the mail line pieces (src/server/mail/): the command-line reader and
// the RETR/TOP dot-stuffer, each checked against a plain model of what it promises.
//
// The first byte picks the reader's line limit, the stuffer's TOP count and a chunk
// size; the rest is a byte stream from a client (for the reader) and a stored message
// (for the stuffer). Invariants (abort() on violation):
//   LineReader
//   - the lines are those of the model: the input cut after each LF, one CR before the
//     LF removed, a line over the limit reported as too_long with empty text;
//   - the same lines however the input is chunked (whole, in the chosen chunks, byte
//     at a time), and the buffer never holds more than limit + 1 bytes after next()
//     returned nothing;
//   - take() then hands over the unfinished line, unless it was already over the limit.
//   DotStuffer
//   - the output is the model's: every line that starts with "." gets one more, the
//     message ends with a line end (CRLF added if missing) and ".\r\n" follows; for TOP
//     n, only the header, the blank line and n body lines; the same however chunked;
//   - done() only for TOP, and only once the model's last line was fed.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "server/mail/dot_stuffer.hpp"
#include "server/mail/line_reader.hpp"

using shicks::mail::DotStuffer;
using shicks::mail::LineReader;

namespace {

void require(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "mail_lines invariant violated: %s\n", what);
    std::abort();
  }
}

struct Framed {
  std::vector<LineReader::Line> lines;
  std::string rest;  // take() after the last line
  bool operator==(const Framed& o) const {
    if (rest != o.rest || lines.size() != o.lines.size()) return false;
    for (std::size_t i = 0; i < lines.size(); ++i)
      if (lines[i].text != o.lines[i].text || lines[i].too_long != o.lines[i].too_long) return false;
    return true;
  }
};

Framed frame(std::string_view in, std::size_t max, std::size_t chunk) {
  LineReader r(max);
  Framed out;
  for (std::size_t i = 0; i < in.size(); i += chunk) {
    r.feed(in.substr(i, chunk));
    while (auto line = r.next()) {
      require(!line->too_long || line->text.empty(), "a too long line has no text");
      require(line->text.size() <= max, "a line within the limit");
      out.lines.push_back(std::move(*line));
    }
    require(r.buffered() <= max + 1, "the buffer stays within the limit");
  }
  out.rest = r.take();
  require(r.buffered() == 0, "take() empties the buffer");
  return out;
}

Framed frame_model(std::string_view in, std::size_t max) {
  Framed out;
  std::size_t pos = 0;
  for (std::size_t lf; (lf = in.find('\n', pos)) != std::string_view::npos; pos = lf + 1) {
    std::string_view text = in.substr(pos, lf - pos);
    if (!text.empty() && text.back() == '\r') text.remove_suffix(1);
    LineReader::Line line;
    if (text.size() > max) line.too_long = true;
    else line.text = std::string(text);
    out.lines.push_back(std::move(line));
  }
  // An unfinished line is kept while it may still end within the limit: max octets
  // and a CR that the LF may follow.
  std::string_view rest = in.substr(pos);
  bool over = rest.size() > max + 1 || (rest.size() == max + 1 && rest.back() != '\r');
  out.rest = over ? std::string() : std::string(rest);
  return out;
}

std::string stuff(std::string_view body, std::int64_t top, std::size_t chunk, bool& done) {
  DotStuffer s(top);
  std::string out;
  done = false;
  for (std::size_t i = 0; i < body.size(); i += chunk) {
    s.feed(body.substr(i, chunk), out);
    if (s.done()) {
      done = true;
      break;
    }
  }
  s.finish(out);
  return out;
}

// The lines of `body` as cut after each LF, the last one possibly without.
std::vector<std::string_view> lines_of(std::string_view body) {
  std::vector<std::string_view> v;
  std::size_t pos = 0;
  while (pos < body.size()) {
    std::size_t lf = body.find('\n', pos);
    std::size_t end = lf == std::string_view::npos ? body.size() : lf + 1;
    v.push_back(body.substr(pos, end - pos));
    pos = end;
  }
  return v;
}

bool blank(std::string_view line) { return line == "\n" || line == "\r\n"; }

std::string stuff_model(std::string_view body, std::int64_t top, bool& done) {
  std::vector<std::string_view> lines = lines_of(body);
  done = false;
  if (top >= 0) {
    std::size_t keep = lines.size();
    for (std::size_t i = 0; i < lines.size(); ++i) {
      if (blank(lines[i])) {
        std::size_t want = i + 1 + static_cast<std::size_t>(top);
        // done() once the last wanted line has ended (a final line without LF never ends).
        if (want <= lines.size() && lines[want - 1].back() == '\n') done = true;
        if (want < keep) keep = want;
        break;
      }
    }
    lines.resize(keep);
  }
  std::string out;
  for (auto l : lines) {
    if (l.front() == '.') out += '.';
    out += l;
  }
  if (!out.empty() && out.back() != '\n') out += "\r\n";
  out += ".\r\n";
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::uint8_t knob = data[0];
  const std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  const std::size_t max = knob % 24;  // small limits reach the edges of the buffer rule
  const std::size_t chunk = 1 + (knob >> 3) % 7;

  const Framed model = frame_model(in, max);
  require(frame(in, max, in.size() + 1) == model, "lines as the model frames them");
  require(frame(in, max, chunk) == model, "lines independent of the chunking");
  if (in.size() <= 4096) require(frame(in, max, 1) == model, "lines byte at a time");

  const std::int64_t top = knob & 0x80 ? (knob >> 2) % 4 : -1;
  bool done_model = false, done = false;
  const std::string want = stuff_model(in, top, done_model);
  require(stuff(in, top, in.size() + 1, done) == want, "stuffed as the model does");
  require(done == done_model, "done() when the model's last line was fed");
  require(top >= 0 || !done, "done() only for TOP");
  require(stuff(in, top, chunk, done) == want && done == done_model, "stuffing independent of the chunking");
  if (in.size() <= 4096) require(stuff(in, top, 1, done) == want, "stuffing byte at a time");
  return 0;
}
