#include "server/mail/trace.hpp"

#include <fmt/core.h>

#include "common/strings.hpp"

namespace shicks::mail {

std::string sanitize_trace_token(std::string_view s, std::size_t max) {
  std::string out;
  for (char c : s) {
    if (out.size() >= max) break;
    bool ok = is_ascii_alpha(c) || is_ascii_digit(c) || c == '.' || c == '-' || c == '_' || c == ':' || c == '[' ||
              c == ']' || c == '@' || c == '+';
    out += ok ? c : '?';
  }
  return out;
}

std::string rfc5322_date(std::time_t t) {
  std::tm tm{};
  gmtime_r(&t, &tm);
  static const char* days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static const char* months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                 "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  return fmt::format("{}, {:02} {} {} {:02}:{:02}:{:02} +0000", days[tm.tm_wday], tm.tm_mday, months[tm.tm_mon],
                     tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

std::string received_header(const TraceInfo& t) {
  // RFC 5321 4.4: from (HELO) (TCP-info) by (host) with (protocol) id (id) for (path); date
  std::string helo = t.helo.empty() ? "unknown" : sanitize_trace_token(t.helo);
  std::vector<std::string> parts;
  parts.push_back(fmt::format("from {} ([{}])", helo, sanitize_trace_token(t.peer_ip, 64)));
  parts.push_back(fmt::format("by {} (Shicks)", t.hostname));
  std::string comment;
  if (!t.tls.empty()) {
    std::string tls;
    for (char c : t.tls.substr(0, 100))
      tls += (is_ascii_alpha(c) || is_ascii_digit(c) || c == '.' || c == '-' || c == '_' || c == ' ') ? c : '?';
    comment = "using " + tls;
  }
  if (!t.auth_user.empty())
    comment += (comment.empty() ? "" : "; ") + std::string("authenticated as ") + sanitize_trace_token(t.auth_user, 64);
  parts.push_back(fmt::format("with {} id {}", t.with, t.id));
  if (!comment.empty()) parts.push_back("(" + comment + ")");
  if (!t.for_rcpt.empty()) parts.push_back(fmt::format("for <{}>", t.for_rcpt));
  parts.back() += ";";
  parts.push_back(rfc5322_date(t.when));

  std::string out = "Received:";
  std::size_t col = out.size();
  for (const auto& p : parts) {
    if (col + 1 + p.size() > 78 && col > 9) {
      out += "\r\n\t";
      col = 8;
    } else {
      out += ' ';
      ++col;
    }
    out += p;
    col += p.size();
  }
  out += "\r\n";
  return out;
}

std::string return_path_header(std::string_view envelope_from) {
  std::string out = "Return-Path: <";
  for (char c : envelope_from) out += (c == '\r' || c == '\n') ? ' ' : c;
  out += ">\r\n";
  return out;
}

namespace {
// Appends `s` as valid UTF-8 (invalid sequences -> U+FFFD), stopping at max_chars.
void append_utf8(std::string& out, std::string_view s, std::size_t& chars, std::size_t max_chars) {
  std::size_t i = 0;
  while (i < s.size() && chars < max_chars) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    std::size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 0;
    bool ok = len > 0 && i + len <= s.size();
    for (std::size_t k = 1; ok && k < len; ++k) ok = (static_cast<unsigned char>(s[i + k]) & 0xc0) == 0x80;
    if (ok && len == 2) ok = c >= 0xc2;
    if (ok && len == 3) {
      unsigned char c1 = static_cast<unsigned char>(s[i + 1]);
      ok = !(c == 0xe0 && c1 < 0xa0) && !(c == 0xed && c1 >= 0xa0);
    }
    if (ok && len == 4) {
      unsigned char c1 = static_cast<unsigned char>(s[i + 1]);
      ok = c <= 0xf4 && !(c == 0xf0 && c1 < 0x90) && !(c == 0xf4 && c1 >= 0x90);
    }
    if (ok && len == 1 && (c < 0x20 || c == 0x7f)) {
      out += ' ';  // control bytes (tabs of folded lines) read as blanks
    } else if (ok) {
      out.append(s.substr(i, len));
    } else {
      out += "\xEF\xBF\xBD";
      len = 1;
    }
    i += len;
    ++chars;
  }
}
}  // namespace

HeaderSummary summarize_headers(std::string_view message, std::size_t max_chars) {
  HeaderSummary h;
  std::string* current = nullptr;
  std::size_t chars = 0;
  std::size_t pos = 0;
  bool have_from = false, have_subject = false;
  while (pos < message.size()) {
    std::size_t eol = message.find('\n', pos);
    std::string_view line = message.substr(pos, eol == std::string_view::npos ? std::string_view::npos : eol - pos);
    pos = eol == std::string_view::npos ? message.size() : eol + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) break;  // end of the header section
    if (line.front() == ' ' || line.front() == '\t') {
      if (current) append_utf8(*current, line, chars, max_chars);  // RFC 5322 2.2.3 unfolding
      continue;
    }
    current = nullptr;
    chars = 0;
    auto colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    std::string_view name = trim(line.substr(0, colon));
    std::string_view value = line.substr(colon + 1);
    if (!have_from && iequals_ascii(name, "From")) {
      have_from = true;
      current = &h.from;
    } else if (!have_subject && iequals_ascii(name, "Subject")) {
      have_subject = true;
      current = &h.subject;
    }
    if (current) append_utf8(*current, trim(value), chars, max_chars);
  }
  h.from = std::string(trim(h.from));
  h.subject = std::string(trim(h.subject));
  return h;
}

}  // namespace shicks::mail
