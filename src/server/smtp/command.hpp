#pragma once
// SMTP command lines -> Command values (RFC 5321 4.1, with the ESMTP parameters of
// RFC 1870 SIZE, RFC 6152 BODY=8BITMIME, RFC 6531 SMTPUTF8, RFC 4954 AUTH=, RFC 3030
// BDAT). Pure code: no state, no I/O. The caller passes one line without its CRLF.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/expected.hpp"
#include "server/mail/address.hpp"
#include "server/smtp/reply.hpp"

namespace shicks::smtp {

enum class Verb { helo, ehlo, mail, rcpt, data, bdat, rset, noop, quit, help, vrfy, expn, starttls, auth };

enum class Body { unspecified, seven_bit, eight_bit_mime, binary_mime };

struct Command {
  Verb verb{};
  std::string arg;  // HELO/EHLO domain, AUTH "MECH [initial]", VRFY/EXPN/HELP/NOOP text
  mail::Path path;        // MAIL FROM / RCPT TO
  // MAIL parameters
  std::optional<std::uint64_t> size;  // SIZE=
  Body body = Body::unspecified;      // BODY=
  bool smtputf8 = false;              // SMTPUTF8
  std::optional<std::string> auth;    // AUTH=<...> (xtext-decoded), RFC 4954 5
  // BDAT
  std::uint64_t chunk_size = 0;
  bool last = false;
};

// Verbs are case-insensitive. Errors are the reply to send:
//   500 5.5.2 unrecognised command, or non-ASCII outside a MAIL/RCPT path;
//   501 5.5.4 bad arguments / syntax / MAIL parameter values;
//   501 5.5.2 NUL or other control bytes (HT excepted) in the line; 555 5.5.4 unknown
//   MAIL/RCPT parameter (RFC 5321 4.1.1.11); bad address syntax: 553 5.1.7 for MAIL
//   FROM, 553 5.1.3 for RCPT TO; 553 5.6.7 non-ASCII address without SMTPUTF8.
// `utf8_ok`: the session may use SMTPUTF8 addresses (MAIL ... SMTPUTF8 sets it for
// that MAIL itself; RCPT gets it from the transaction).
Expected<Command, Reply> parse_command(std::string_view line, bool utf8_ok);

const char* verb_name(Verb v);

}  // namespace shicks::smtp
