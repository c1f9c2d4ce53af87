#pragma once
// The bounce sent to a local sender when relaying fails for good: an RFC 3464
// delivery status notification (multipart/report, RFC 6522) with a human-readable
// part, the message/delivery-status part and the original message's header section
// as text/rfc822-headers. Pure code: the caller supplies the time and the unique
// token (boundary, Message-ID).
//
// A DSN is delivered with the null sender (RFC 5321 4.5.5), so a DSN about a DSN is
// never made: no bounce loops.
#include <ctime>
#include <string>
#include <string_view>
#include <vector>

namespace shicks::relay {

struct FailedRecipient {
  std::string recipient;
  std::string status;      // "5.1.1"
  std::string diagnostic;  // the relay's reply, or what went wrong here
  bool remote = false;     // diagnostic is the relay's reply (Diagnostic-Code: smtp;)
};

struct DsnInput {
  std::string reporting_mta;     // our host name
  std::string remote_mta;        // the relay host (Remote-MTA of remote diagnostics)
  std::string original_sender;   // the envelope sender: the DSN's recipient
  std::time_t arrival = 0;       // when the message was queued
  std::time_t now = 0;
  std::string original_headers;  // header_section() of the message
  std::vector<FailedRecipient> recipients;
  std::string unique;            // random token for the boundary and the Message-ID
  bool expired = false;          // given up after relay.max_lifetime_seconds
};

struct Dsn {
  std::string message;  // the whole message, CRLF line ends
  std::string from;     // for listings (messages.header_from)
  std::string subject;
};

Dsn compose_dsn(const DsnInput& in);

// The header section of a message (up to and including the CRLF of its last header
// line, without the blank line), at most `max` octets cut at a line end.
std::string header_section(std::string_view message, std::size_t max = 64 * 1024);

}  // namespace shicks::relay
