#pragma once
// Trace fields added at delivery (RFC 5321 4.4) and the header facts the store keeps
// for listings. Pure code; no client-supplied byte reaches a header unescaped.
#include <ctime>
#include <string>
#include <string_view>

#include "server/mail/address.hpp"

namespace shicks::mail {

struct TraceInfo {
  std::string helo;       // as the client said it (sanitised here)
  std::string peer_ip;    // "192.0.2.1" or "2001:db8::1"
  std::string hostname;   // ours
  std::string with;       // RFC 3848 keyword, e.g. ESMTPSA
  std::string id;         // our queue id
  std::string tls;        // e.g. "TLSv1.3 TLS_AES_256_GCM_SHA384"; empty without TLS
  std::string auth_user;  // empty when not authenticated
  std::string for_rcpt;   // only when there is exactly one recipient
  std::time_t when = 0;
};

// "Received: from ... by ... with ... id ...; DATE\r\n", folded at 78 columns.
std::string received_header(const TraceInfo& t);
// "Return-Path: <sender>\r\n" (RFC 5321 4.4: added at final delivery).
std::string return_path_header(std::string_view envelope_from);
// RFC 5322 3.3 date-time in UTC: "Tue, 24 Nov 2026 06:50:00 +0000".
std::string rfc5322_date(std::time_t t);
// Keeps only bytes that are safe and meaningful in a trace field; others become '?'.
std::string sanitize_trace_token(std::string_view s, std::size_t max = 255);

// The From and Subject of a message's header section, unfolded, as valid UTF-8
// (invalid bytes replaced), at most `max_chars` code points, for listings. They are
// kept raw (encoded-words are decoded when listed), so the default keeps as much as
// the columns hold (512): an encoded Subject is often over 200 octets.
struct HeaderSummary {
  std::string from;
  std::string subject;
};
HeaderSummary summarize_headers(std::string_view message, std::size_t max_chars = 500);

}  // namespace shicks::mail
