// Fuzz target for the bounce (src/server/relay/dsn.hpp): the header section cut out of
// a stored message, and the DSN built from it and from what the relay replied.
//
// The first byte picks the header limit and the number of failed recipients; the rest,
// cut at 0xff bytes, is a message, a recipient, a diagnostic (the relay's reply, at
// most as long as the relay client makes one) and a status. Invariants (abort() on
// violation):
//   - header_section() is a prefix of the message (plus the CRLF a last line lacks),
//     cut at a line end when over the limit, with no blank line inside;
//   - the DSN is the header, the three parts and the closing boundary; outside the
//     copied header section every line ends in CRLF, holds no other control byte than
//     the tab of the one folded field, and is at most 998 octets (RFC 5322 2.1.1);
//   - each recipient has its Final-Recipient and Status fields.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "server/relay/dsn.hpp"

using namespace shicks::relay;

namespace {

void require(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "relay_dsn invariant violated: %s\n", what);
    std::abort();
  }
}

std::size_t count(std::string_view s, std::string_view what) {
  std::size_t n = 0;
  for (std::size_t p = s.find(what); p != std::string_view::npos; p = s.find(what, p + 1)) ++n;
  return n;
}

void check_lines(std::string_view s) {
  std::size_t start = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c == '\r') {
      require(i + 1 < s.size() && s[i + 1] == '\n', "CR only before LF");
      require(i - start <= 998, "a line of at most 998 octets");
      start = i + 2;
      ++i;
      continue;
    }
    require(c != '\n', "LF only after CR");
    require(c >= 0x20 && c != 0x7f ? true : c == '\t' && i == start, "no control byte in the DSN");
  }
  require(start == s.size(), "the DSN's own text ends in CRLF");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::uint8_t knob = data[0];
  const std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  std::vector<std::string_view> part;
  for (std::size_t pos = 0; part.size() < 4;) {
    std::size_t cut = in.find('\xff', pos);
    part.push_back(in.substr(std::min(pos, in.size()), cut == std::string_view::npos ? std::string_view::npos : cut - pos));
    pos = cut == std::string_view::npos ? in.size() : cut + 1;
  }
  const std::string_view message = part[0];

  const std::size_t max = knob & 0x80 ? 64 * 1024 : 2 + knob % 64;
  const std::string head = header_section(message, max);
  std::string_view copied = head;
  if (!head.empty() && (message.size() < head.size() || message.compare(0, head.size(), head) != 0)) {
    require(head.size() >= 2 && head.compare(head.size() - 2, 2, "\r\n") == 0, "only a CRLF is added");
    copied.remove_suffix(2);
    require(copied.back() != '\n', "a CRLF is added only where the line lacks one");
  }
  require(message.compare(0, copied.size(), copied) == 0, "the header section is a prefix of the message");
  require(head.empty() || head.back() == '\n', "the header section ends with its last line");
  require(head.find("\r\n\r\n") == std::string::npos, "no blank line inside the header section");
  const std::size_t blank = message.find("\r\n\r\n");
  if ((blank == std::string_view::npos ? message.size() : blank + 2) > max)
    require(head.size() <= max, "a header section over the limit is cut within it");

  DsnInput d;
  d.reporting_mta = "mail.example.org";
  d.remote_mta = knob & 1 ? "relay.example.net" : "";
  d.original_sender = "sender@example.org";
  d.arrival = 1790000000;
  d.now = 1790003600;
  d.original_headers = head;
  d.unique = "0f1e2d3c4b5a";
  d.expired = knob & 2;
  const std::size_t recipients = 1 + (knob >> 2) % 3;
  for (std::size_t i = 0; i < recipients; ++i)
    d.recipients.push_back(FailedRecipient{std::string(part[1].substr(0, 256)), std::string(part[3]),
                                           std::string(part[2].substr(0, 600)), (knob >> i & 4) != 0});
  const Dsn dsn = compose_dsn(d);

  const std::string& m = dsn.message;
  const std::string boundary = "--=_shicks_dsn_" + d.unique;
  const std::string marker = "Content-Description: Undelivered Message Headers\r\n\r\n";
  const std::string tail = "\r\n" + boundary + "--\r\n";
  // Counted from the end: the recipients' lines may quote the marker.
  require(m.size() >= marker.size() + head.size() + tail.size(), "the headers part is there");
  const std::size_t copy_at = m.size() - tail.size() - head.size();
  require(m.compare(copy_at - marker.size(), marker.size(), marker) == 0, "the headers part is there");
  require(m.compare(copy_at, head.size(), head) == 0, "the header section is copied as it is");
  require(m.compare(copy_at + head.size(), tail.size(), tail) == 0, "the closing boundary ends the DSN");
  const std::string_view own(m.data(), copy_at);
  check_lines(own);
  require(count(own, "\r\n" + boundary + "\r\n") == 3, "three parts");
  require(count(own, "\r\nFinal-Recipient: rfc822; ") == recipients, "a Final-Recipient per recipient");
  require(count(own, "\r\nStatus: ") == recipients, "a Status per recipient");
  require(dsn.subject.find('\n') == std::string::npos && dsn.from.find('\n') == std::string::npos,
          "From and Subject are one line");
  return 0;
}
