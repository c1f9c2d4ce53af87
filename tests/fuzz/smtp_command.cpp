// Fuzz target for SMTP command framing and parsing: LineReader + parse_command.
//
// The input is a byte stream from a client. It is framed into lines by a
// LineReader fed whole and again split in two at a point derived from the data;
// both must give the same lines. Every line is parsed with and without SMTPUTF8.
// Invariants (abort() on violation):
//   - the buffer stays within max_line + one feed;
//   - an error is one well-formed reply line with a permanent code we document;
//   - what parses without SMTPUTF8 parses the same with it;
//   - a parsed path's mailbox re-parses to itself, within the RFC 5321 limits.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "server/mail/address.hpp"
#include "server/smtp/command.hpp"
#include "server/mail/line_reader.hpp"

using namespace shicks::smtp;
using namespace shicks::mail;

namespace {

void require(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "smtp_command invariant violated: %s\n", what);
    std::abort();
  }
}

constexpr std::size_t kMaxLine = 512;

std::vector<std::string> frame(const std::vector<std::string_view>& chunks) {
  LineReader reader(kMaxLine);
  std::vector<std::string> lines;
  for (auto chunk : chunks) {
    reader.feed(chunk);
    require(reader.buffered() <= kMaxLine + 2 + chunk.size(), "line buffer bounded");
    while (auto line = reader.next()) {
      require(!line->too_long || line->text.empty(), "too_long lines carry no text");
      require(line->text.size() <= kMaxLine, "line within max_line");
      require(line->text.find('\n') == std::string::npos, "no LF inside a line");
      lines.push_back(line->too_long ? std::string("\n<too long>") : line->text);
    }
  }
  lines.push_back("\n<rest>" + reader.take());
  return lines;
}

bool same_path(const Path& a, const Path& b) {
  return a.null == b.null && a.postmaster == b.postmaster && a.mailbox.local == b.mailbox.local &&
         a.mailbox.domain == b.mailbox.domain && a.mailbox.utf8 == b.mailbox.utf8;
}

bool same_command(const Command& a, const Command& b) {
  return a.verb == b.verb && a.arg == b.arg && same_path(a.path, b.path) && a.size == b.size && a.body == b.body &&
         a.smtputf8 == b.smtputf8 && a.auth == b.auth && a.chunk_size == b.chunk_size && a.last == b.last;
}

void check_reply(const Reply& r) {
  require(r.code == 500 || r.code == 501 || r.code == 553 || r.code == 555, "documented error code");
  require(r.permanent() && !r.status.empty() && r.status[0] == '5', "permanent status");
  const std::string out = r.render();
  require(out.size() > 6 && out.find("\r\n") == out.size() - 2, "one reply line");
  require(out.find('\n') == out.size() - 1, "no LF inside the reply");
}

void check_path(const Command& c, bool utf8) {
  const Path& p = c.path;
  if ((c.verb != Verb::mail && c.verb != Verb::rcpt) || p.null || p.postmaster) return;
  const Mailbox& m = p.mailbox;
  require(!utf8 ? !m.utf8 : true, "no UTF-8 without SMTPUTF8");
  require(m.domain.size() <= kMaxDomain, "domain limit");
  auto again = parse_path("<" + m.str() + ">", utf8);
  require(bool(again), "str() re-parses");
  require(again->mailbox.local == m.local && again->mailbox.domain == m.domain, "re-parse is identical");
}

void parse(std::string_view line) {
  auto plain = parse_command(line, false);
  auto utf8 = parse_command(line, true);
  if (plain) {
    require(bool(utf8), "SMTPUTF8 only widens what parses");
    require(same_command(*plain, *utf8), "same command either way");
    check_path(*plain, plain->smtputf8);
  } else {
    check_reply(plain.error());
  }
  if (utf8) {
    check_path(*utf8, true);
    if (utf8->verb != Verb::mail && utf8->verb != Verb::rcpt) require(utf8->path.mailbox.local.empty(), "no path");
  } else {
    check_reply(utf8.error());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  const std::size_t cut = size == 0 ? 0 : (data[0] * 131u + data[size - 1]) % (size + 1);
  const auto whole = frame({in});
  const auto split = frame({in.substr(0, cut), in.substr(cut)});
  require(whole == split, "framing independent of the split");
  for (const auto& line : whole)
    if (line.empty() || line[0] != '\n') parse(line);
  // The raw input as one line too: reaches the parser with bytes framing would cut.
  parse(in);
  return 0;
}
