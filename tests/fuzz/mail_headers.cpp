// Fuzz target for what the delivery path reads out of, and writes above, a client's
// message (src/server/mail/trace.hpp): the From/Subject summary kept for listings and
// the Received and Return-Path fields made from what the client said.
//
// The first byte picks the summary's length limit; the rest is a message for
// summarize_headers(), and, cut at 0xff bytes, the HELO name, the AUTH user name, a
// TLS description and a RCPT path (parsed as the session does) for received_header().
// Invariants (abort() on violation):
//   - the summary's From and Subject are valid UTF-8 (the store's columns are utf8mb4)
//     of at most the limit's code points, without control bytes or outer blanks, and
//     summarising "From: <from>" / "Subject: <subject>" again gives them back;
//   - sanitize_trace_token() keeps only its safe characters, within its limit;
//   - Received is one header field: "Received: from ", CRLF line ends, each fold a
//     CRLF then a tab, no other control byte, lines of at most 998 octets
//     (RFC 5322 2.1.1), and a date after the last ";";
//   - Return-Path is one line "Return-Path: <...>" CRLF.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "server/mail/address.hpp"
#include "server/mail/trace.hpp"

using namespace shicks::mail;

namespace {

void require(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "mail_headers invariant violated: %s\n", what);
    std::abort();
  }
}

// Strict UTF-8 (RFC 3629): no overlongs, no surrogates, nothing above U+10FFFF.
// Returns the number of code points, or -1.
long utf8_chars(std::string_view s) {
  long n = 0;
  for (std::size_t i = 0; i < s.size(); ++n) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    std::size_t len = c < 0x80 ? 1 : c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
    if (len == 0 || i + len > s.size()) return -1;
    unsigned cp = len == 1 ? c : len == 2 ? c & 0x1f : len == 3 ? c & 0x0f : c & 0x07;
    for (std::size_t k = 1; k < len; ++k) {
      unsigned char d = static_cast<unsigned char>(s[i + k]);
      if ((d & 0xc0) != 0x80) return -1;
      cp = cp << 6 | (d & 0x3f);
    }
    static const unsigned min_for_len[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min_for_len[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return -1;
    i += len;
  }
  return n;
}

void check_summary_field(const std::string& v, std::size_t max_chars) {
  long n = utf8_chars(v);
  require(n >= 0, "summary is valid UTF-8");
  require(static_cast<std::size_t>(n) <= max_chars, "summary within its limit");
  for (unsigned char c : v) require(c >= 0x20 && c != 0x7f, "no control byte in a summary");
  require(v.empty() || (v.front() != ' ' && v.back() != ' '), "summary trimmed");
}

void check_summary(std::string_view message, std::size_t max_chars) {
  const HeaderSummary h = summarize_headers(message, max_chars);
  check_summary_field(h.from, max_chars);
  check_summary_field(h.subject, max_chars);
  const HeaderSummary again = summarize_headers("From: " + h.from + "\r\nSubject: " + h.subject + "\r\n\r\n", max_chars);
  require(again.from == h.from && again.subject == h.subject, "a summary summarises to itself");
}

void check_received(const std::string& r) {
  require(r.compare(0, 15, "Received: from ") == 0, "Received starts its field");
  require(r.size() >= 2 && r.compare(r.size() - 2, 2, "\r\n") == 0, "Received ends in CRLF");
  std::size_t line_start = 0;
  for (std::size_t i = 0; i < r.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(r[i]);
    if (c == '\r') {
      require(i + 1 < r.size() && r[i + 1] == '\n', "CR only before LF");
      require(i - line_start <= 998, "a line of at most 998 octets");
      ++i;
      if (i + 1 < r.size()) require(r[i + 1] == '\t', "a fold continues with a tab");
      line_start = i + 1;
      continue;
    }
    require(c != '\n', "LF only after CR");
    require(c >= 0x20 || (c == '\t' && i == line_start), "no control byte in Received");
  }
  const std::size_t semi = r.rfind(';');
  require(semi != std::string::npos && r.find("+0000\r\n", semi) == r.size() - 7, "a date ends Received");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::size_t max_chars = data[0] < 0x80 ? data[0] % 16 : 500;
  const std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  check_summary(in, max_chars);

  std::vector<std::string_view> part;
  for (std::size_t pos = 0; part.size() < 4;) {
    std::size_t cut = in.find('\xff', pos);
    part.push_back(in.substr(std::min(pos, in.size()), cut == std::string_view::npos ? std::string_view::npos : cut - pos));
    pos = cut == std::string_view::npos ? in.size() : cut + 1;
  }

  const std::size_t max_token = 1 + data[0] % 64;
  const std::string token = sanitize_trace_token(part[0], max_token);
  require(token.size() <= max_token && token.size() <= part[0].size(), "token within its limit");
  for (char c : token)
    require(std::string_view("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_:[]@+?").find(c) !=
                std::string_view::npos,
            "token characters");

  TraceInfo t;
  t.helo = std::string(part[0]);
  t.peer_ip = "2001:db8::1";
  t.hostname = "mail.example.org";
  t.with = data[0] & 1 ? "ESMTPSA" : "SMTP";
  t.id = "0123456789ab";
  t.auth_user = std::string(part[1]);
  t.tls = std::string(part[2]);
  t.when = 1790000000;
  auto rcpt = parse_path(part[3], data[0] & 2);
  if (rcpt && !rcpt->null) t.for_rcpt = rcpt->postmaster ? rcpt->mailbox.local : rcpt->mailbox.str();
  check_received(received_header(t));

  if (rcpt && !rcpt->null) {
    const std::string rp = return_path_header(rcpt->mailbox.str());
    require(rp.compare(0, 14, "Return-Path: <") == 0 && rp.compare(rp.size() - 3, 3, ">\r\n") == 0,
            "Return-Path is <path> CRLF");
    require(rp.find('\n') == rp.size() - 1 && rp.find('\r') == rp.size() - 2, "Return-Path is one line");
  }
  return 0;
}
