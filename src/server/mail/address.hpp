#pragma once
// RFC 5321 4.1.2 paths and mailboxes; RFC 6531 (SMTPUTF8) for UTF-8 local parts and
// domains. Pure code.
#include <string>
#include <string_view>

#include "common/expected.hpp"

namespace shicks::mail {

struct Mailbox {
  std::string local;   // as written, except that a Quoted-string is stored unquoted (str() re-quotes)
  std::string domain;  // ASCII lowercased; a U-label domain kept as UTF-8 (lowercased ASCII letters only);
                       // an address literal kept as written, e.g. "[192.0.2.1]"
  bool utf8 = false;   // local part or domain uses non-ASCII (needs SMTPUTF8)
  std::string str() const;  // local@domain, the local part re-quoted when it needs quotes
};

struct Path {
  bool null = false;        // "<>" (MAIL FROM only)
  bool postmaster = false;  // "<Postmaster>" without a domain (RCPT TO only, RFC 5321 4.5.1);
                            // mailbox.local keeps its spelling, mailbox.domain is empty
  Mailbox mailbox;
};

// Parses "<...>" including the angle brackets; a source route ("<@a,@b:u@d>") is
// accepted and ignored (RFC 5321 4.1.2 / appendix C). Reasons are one short line.
// `utf8` allows RFC 6531 UTF-8 in the local part and domain.
Expected<Path, std::string> parse_path(std::string_view text, bool utf8);

// A bare mailbox "local@domain" (no brackets): shicksctl addresses, AUTH names.
Expected<Mailbox, std::string> parse_mailbox(std::string_view text, bool utf8);

// RFC 5321 4.5.3.1: local part <= 64 octets, domain <= 255, path <= 256.
inline constexpr std::size_t kMaxLocalPart = 64;
inline constexpr std::size_t kMaxDomain = 255;
inline constexpr std::size_t kMaxPath = 256;

}  // namespace shicks::mail
