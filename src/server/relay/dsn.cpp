#include "server/relay/dsn.hpp"

#include <fmt/core.h>

#include "server/mail/trace.hpp"

namespace shicks::relay {

namespace {

// A header or report field value: one line, no control bytes (RFC 3464 2.1.1 fields
// are single lines here; UTF-8 in addresses is kept as it is).
std::string field(std::string_view s, std::size_t max = 900) {
  std::string out;
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    out.push_back(u < 0x20 || u == 0x7f ? ' ' : c);
    if (out.size() >= max) break;
  }
  return out;
}

}  // namespace

std::string header_section(std::string_view message, std::size_t max) {
  std::size_t end = message.find("\r\n\r\n");
  std::string_view head = end == std::string_view::npos ? message : message.substr(0, end + 2);
  if (head.size() > max) {
    std::size_t cut = head.rfind("\r\n", max - 2);
    head = cut == std::string_view::npos ? std::string_view() : head.substr(0, cut + 2);
  }
  std::string out(head);
  if (!out.empty() && out.back() != '\n') out += "\r\n";
  return out;
}

Dsn compose_dsn(const DsnInput& in) {
  Dsn d;
  const std::string host = field(in.reporting_mta, 255);
  const std::string boundary = "=_shicks_dsn_" + field(in.unique, 64);
  d.from = "Mail Delivery System <MAILER-DAEMON@" + host + ">";
  d.subject = "Undelivered Mail Returned to Sender";

  std::string& m = d.message;
  m += "From: " + d.from + "\r\n";
  m += "To: <" + field(in.original_sender, 320) + ">\r\n";
  m += "Subject: " + d.subject + "\r\n";
  m += "Date: " + mail::rfc5322_date(in.now) + "\r\n";
  m += "Message-ID: <" + field(in.unique, 64) + ".dsn@" + host + ">\r\n";
  m += "Auto-Submitted: auto-replied\r\n";  // RFC 3834 5
  m += "MIME-Version: 1.0\r\n";
  m += "Content-Type: multipart/report; report-type=delivery-status;\r\n\tboundary=\"" + boundary + "\"\r\n";
  m += "\r\nThis is a MIME-encapsulated message.\r\n\r\n";

  // 1. For people.
  m += "--" + boundary + "\r\n";
  m += "Content-Type: text/plain; charset=utf-8\r\n";
  m += "Content-Description: Notification\r\n\r\n";
  m += "This is the mail system at host " + host + ".\r\n\r\n";
  if (in.expired)
    m += "Your message could not be delivered to the recipients below within the time\r\n"
         "allowed; the mail system has given up.\r\n\r\n";
  else
    m += "Your message could not be delivered to one or more recipients.\r\n"
         "The mail system that was asked to deliver it refused it permanently.\r\n\r\n";
  for (const auto& r : in.recipients) m += "<" + field(r.recipient, 320) + ">: " + field(r.diagnostic) + "\r\n";
  m += "\r\n";

  // 2. For programs (RFC 3464 2.2, 2.3).
  m += "--" + boundary + "\r\n";
  m += "Content-Type: message/delivery-status\r\n";
  m += "Content-Description: Delivery report\r\n\r\n";
  m += "Reporting-MTA: dns; " + host + "\r\n";
  m += "Arrival-Date: " + mail::rfc5322_date(in.arrival) + "\r\n";
  for (const auto& r : in.recipients) {
    m += "\r\n";
    m += "Final-Recipient: rfc822; " + field(r.recipient, 320) + "\r\n";
    m += "Action: failed\r\n";
    m += "Status: " + field(r.status.empty() ? std::string("5.0.0") : r.status, 16) + "\r\n";
    if (r.remote && !in.remote_mta.empty()) m += "Remote-MTA: dns; " + field(in.remote_mta, 255) + "\r\n";
    m += std::string("Diagnostic-Code: ") + (r.remote ? "smtp; " : "X-Shicks; ") + field(r.diagnostic) + "\r\n";
    m += "Last-Attempt-Date: " + mail::rfc5322_date(in.now) + "\r\n";
  }
  m += "\r\n";

  // 3. The original header section (RFC 6522 3: text/rfc822-headers).
  m += "--" + boundary + "\r\n";
  m += "Content-Type: text/rfc822-headers\r\n";
  m += "Content-Description: Undelivered Message Headers\r\n\r\n";
  m += in.original_headers;
  m += "\r\n--" + boundary + "--\r\n";
  return d;
}

}  // namespace shicks::relay
