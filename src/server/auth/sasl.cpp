#include "server/auth/sasl.hpp"

#include <cstddef>

#include "common/base64.hpp"

// Rules shared by PLAIN and LOGIN (what the SMTP and POP3 engines pass in is one
// client line without its CRLF):
//   "*"  -> cancelled (RFC 4954 4, RFC 5034 4)
//   "="  -> an empty response (RFC 4954 4 / RFC 5034 4 use it for an empty initial
//           response); it then fails the mechanism's own checks -> malformed
//   else -> strict base64 (common/base64.hpp), or bad_base64
// After decoding:
//   - identities (authzid, authcid / LOGIN user name) and passwords are at most
//     255 octets (kMaxField) and contain no NUL;
//   - identities must be valid UTF-8 (RFC 4616 2: SAFE is UTF-8); they end up in
//     database lookups and logs. Passwords are any octets except NUL: the hash
//     decides whether they match;
//   - user name and password must be non-empty (RFC 4616: 1*SAFE; the same for LOGIN).
// Nothing here throws except std::bad_alloc.

namespace shicks::auth {
namespace {

constexpr std::size_t kMaxField = 255;

// Well-formed UTF-8 (RFC 3629): shortest form, no surrogates, at most U+10FFFF.
bool valid_utf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    std::size_t n = 0;
    unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the second byte
    if (c >= 0xC2 && c <= 0xDF) {
      n = 1;
    } else if (c >= 0xE0 && c <= 0xEF) {
      n = 2;
      if (c == 0xE0) lo = 0xA0;
      if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      n = 3;
      if (c == 0xF0) lo = 0x90;
      if (c == 0xF4) hi = 0x8F;
    } else {
      return false;
    }
    if (s.size() - i <= n) return false;
    const unsigned char c1 = static_cast<unsigned char>(s[i + 1]);
    if (c1 < lo || c1 > hi) return false;
    for (std::size_t k = 2; k <= n; ++k) {
      const unsigned char ck = static_cast<unsigned char>(s[i + k]);
      if (ck < 0x80 || ck > 0xBF) return false;
    }
    i += n + 1;
  }
  return true;
}

bool valid_identity(std::string_view s) {
  return !s.empty() && s.size() <= kMaxField && s.find('\0') == std::string_view::npos &&
         valid_utf8(s);
}

bool valid_password(std::string_view s) {
  return !s.empty() && s.size() <= kMaxField && s.find('\0') == std::string_view::npos;
}

// "*" / "=" / base64, as described above.
Expected<std::string, SaslError> decode_line(std::string_view line) {
  if (line == "*") return unexpected(SaslError::cancelled);
  if (line == "=") return std::string();
  auto bytes = base64_decode(line);
  if (!bytes) return unexpected(SaslError::bad_base64);
  return std::move(*bytes);
}

}  // namespace

const char* describe(SaslError e) {
  switch (e) {
    case SaslError::bad_base64:
      return "invalid base64";
    case SaslError::malformed:
      return "malformed SASL response";
    case SaslError::authzid_differs:
      return "authorization identity differs from authentication identity";
    case SaslError::cancelled:
      return "authentication cancelled by the client";
  }
  return "unknown SASL error";
}

Expected<Credentials, SaslError> decode_plain(std::string_view base64_line) {
  auto decoded = decode_line(base64_line);
  if (!decoded) return unexpected(decoded.error());
  const std::string_view msg = *decoded;

  // authzid NUL authcid NUL passwd: exactly two NULs.
  const std::size_t nul1 = msg.find('\0');
  if (nul1 == std::string_view::npos) return unexpected(SaslError::malformed);
  const std::size_t nul2 = msg.find('\0', nul1 + 1);
  if (nul2 == std::string_view::npos) return unexpected(SaslError::malformed);
  if (msg.find('\0', nul2 + 1) != std::string_view::npos) return unexpected(SaslError::malformed);

  const std::string_view authzid = msg.substr(0, nul1);
  const std::string_view authcid = msg.substr(nul1 + 1, nul2 - nul1 - 1);
  const std::string_view passwd = msg.substr(nul2 + 1);

  if (!valid_identity(authcid) || !valid_password(passwd)) return unexpected(SaslError::malformed);
  if (!authzid.empty()) {
    if (!valid_identity(authzid)) return unexpected(SaslError::malformed);
    // Exact octet comparison: acting for another identity is not supported, and a
    // case-folded match would be a policy decision the store should make.
    if (authzid != authcid) return unexpected(SaslError::authzid_differs);
  }

  Credentials c;
  c.authzid = std::string(authzid);
  c.username = std::string(authcid);
  c.password = std::string(passwd);
  return c;
}

// step_: 0 = the user name is due, 1 = the password is due, 2 = finished (the
// credentials were returned, or an error ended the exchange).
std::string LoginExchange::challenge() const {
  switch (step_) {
    case 0:
      return "VXNlcm5hbWU6";  // base64("Username:")
    case 1:
      return "UGFzc3dvcmQ6";  // base64("Password:")
    default:
      return std::string();
  }
}

Expected<std::optional<Credentials>, SaslError> LoginExchange::answer(std::string_view base64_line) {
  if (step_ != 0 && step_ != 1) return unexpected(SaslError::malformed);
  auto decoded = decode_line(base64_line);
  if (!decoded) {
    step_ = 2;
    user_.clear();
    return unexpected(decoded.error());
  }
  if (step_ == 0) {
    if (!valid_identity(*decoded)) {
      step_ = 2;
      return unexpected(SaslError::malformed);
    }
    user_ = std::move(*decoded);
    step_ = 1;
    return std::optional<Credentials>();
  }
  step_ = 2;
  if (!valid_password(*decoded)) {
    user_.clear();
    return unexpected(SaslError::malformed);
  }
  Credentials c;
  c.username = std::move(user_);
  c.password = std::move(*decoded);
  user_.clear();
  return std::optional<Credentials>(std::move(c));
}

}  // namespace shicks::auth
