#pragma once
// SASL mechanisms shared by SMTP AUTH (RFC 4954) and POP3 AUTH (RFC 5034):
// PLAIN (RFC 4616) and LOGIN (draft-murchison-sasl-login). Pure code: the protocol
// engines carry the base64 lines; this decodes them into credentials.
#include <optional>
#include <string>
#include <string_view>

#include "common/expected.hpp"

namespace shicks::auth {

struct Credentials {
  std::string authzid;  // PLAIN only; empty or equal to authcid, else refused
  std::string username;
  std::string password;
};

enum class SaslError {
  bad_base64,     // -> 501 5.5.2 / -ERR
  malformed,      // wrong number of fields, NUL in a field, over-long
  authzid_differs,// we do not support acting for another user (-> 535 5.7.8 / 5.7.0)
  cancelled,      // the client sent "*" (RFC 4954 4: -> 501 5.0.0)
};

const char* describe(SaslError e);

// PLAIN: base64("authzid\0authcid\0passwd"). Each field at most 255 octets
// (RFC 4616 2: non-empty authcid and passwd, no NUL inside a field).
Expected<Credentials, SaslError> decode_plain(std::string_view base64_line);

// LOGIN is two challenges ("Username:", "Password:", base64). The state machine:
class LoginExchange {
 public:
  // The challenge to send next, already base64 ("VXNlcm5hbWU6" / "UGFzc3dvcmQ6").
  std::string challenge() const;
  // Feeds the client's base64 line (or an initial response given with AUTH LOGIN).
  // Returns the credentials once both answers arrived, nullopt when another
  // challenge is due, or an error.
  Expected<std::optional<Credentials>, SaslError> answer(std::string_view base64_line);

 private:
  int step_ = 0;
  std::string user_;
};

}  // namespace shicks::auth
