#include <catch2/catch.hpp>

#include <string>

#include "common/base64.hpp"
#include "server/auth/sasl.hpp"

using shicks::base64_encode;
using namespace shicks::auth;

namespace {

std::string plain(const std::string& authzid, const std::string& authcid, const std::string& passwd) {
  std::string msg = authzid;
  msg.push_back('\0');
  msg += authcid;
  msg.push_back('\0');
  msg += passwd;
  return base64_encode(msg);
}

SaslError plain_error(const std::string& line) {
  auto r = decode_plain(line);
  REQUIRE_FALSE(r);
  return r.error();
}

}  // namespace

TEST_CASE("PLAIN decodes the three fields", "[auth][sasl]") {
  SECTION("without authzid") {
    auto r = decode_plain("AHRpbQB0YW5zdGFhZnRhbnN0YWFm");  // RFC 4616 4: "\0tim\0tanstaaftanstaaf"
    REQUIRE(r);
    CHECK(r->authzid.empty());
    CHECK(r->username == "tim");
    CHECK(r->password == "tanstaaftanstaaf");
  }
  SECTION("with an authzid equal to the authcid") {
    auto r = decode_plain(plain("alice@example.org", "alice@example.org", "s3cret"));
    REQUIRE(r);
    CHECK(r->authzid == "alice@example.org");
    CHECK(r->username == "alice@example.org");
    CHECK(r->password == "s3cret");
  }
  SECTION("UTF-8 identities and any non-NUL octets in the password") {
    auto r = decode_plain(plain("", "j\xc3\xbcrgen", "p\xe4ss \x01\xff w\xc3\xb6rd"));
    REQUIRE(r);
    CHECK(r->username == "j\xc3\xbcrgen");
    CHECK(r->password == "p\xe4ss \x01\xff w\xc3\xb6rd");
  }
  SECTION("255-octet fields are accepted") {
    const std::string u(255, 'u'), p(255, 'p');
    auto r = decode_plain(plain(u, u, p));
    REQUIRE(r);
    CHECK(r->username == u);
    CHECK(r->password == p);
  }
}

TEST_CASE("PLAIN refuses an authzid other than the authcid", "[auth][sasl]") {
  CHECK(plain_error(plain("bob", "alice", "pw")) == SaslError::authzid_differs);
  CHECK(plain_error(plain("Alice", "alice", "pw")) == SaslError::authzid_differs);  // octet compare
  CHECK(plain_error(plain("alice ", "alice", "pw")) == SaslError::authzid_differs);
}

TEST_CASE("PLAIN cancel, empty response and bad base64", "[auth][sasl]") {
  CHECK(plain_error("*") == SaslError::cancelled);
  CHECK(plain_error("=") == SaslError::malformed);  // RFC 4954 empty initial response
  CHECK(plain_error("") == SaslError::malformed);
  CHECK(plain_error("**") == SaslError::bad_base64);
  CHECK(plain_error(" *") == SaslError::bad_base64);
  CHECK(plain_error("==") == SaslError::bad_base64);
  CHECK(plain_error("AHRpbQB0YW5zdGFhZnRhbnN0YWFm ") == SaslError::bad_base64);
  CHECK(plain_error("AHRpbQB0YW5zdGFhZnRhbnN0YWFm\r") == SaslError::bad_base64);
  CHECK(plain_error("AHRpbQB0YW5zdGFhZnRhbnN0YWF") == SaslError::bad_base64);
  CHECK(plain_error("!!!!") == SaslError::bad_base64);
}

TEST_CASE("PLAIN rejects malformed messages", "[auth][sasl]") {
  using std::string;
  // Field count.
  CHECK(plain_error(base64_encode("alice")) == SaslError::malformed);
  CHECK(plain_error(base64_encode(string("alice\0pw", 8))) == SaslError::malformed);
  CHECK(plain_error(base64_encode(string("\0alice\0pw\0", 10))) == SaslError::malformed);
  CHECK(plain_error(base64_encode(string("\0alice\0p\0w", 10))) == SaslError::malformed);
  CHECK(plain_error(base64_encode(string("\0\0", 2))) == SaslError::malformed);
  CHECK(plain_error(base64_encode(string("\0\0\0", 3))) == SaslError::malformed);
  // Empty authcid or password.
  CHECK(plain_error(plain("", "", "pw")) == SaslError::malformed);
  CHECK(plain_error(plain("", "alice", "")) == SaslError::malformed);
  CHECK(plain_error(plain("alice", "", "pw")) == SaslError::malformed);
  // Over-long fields.
  CHECK(plain_error(plain("", string(256, 'u'), "pw")) == SaslError::malformed);
  CHECK(plain_error(plain("", "alice", string(256, 'p'))) == SaslError::malformed);
  CHECK(plain_error(plain(string(256, 'u'), string(256, 'u'), "pw")) == SaslError::malformed);
  // Identities must be UTF-8.
  CHECK(plain_error(plain("", "j\xfcrgen", "pw")) == SaslError::malformed);          // Latin-1
  CHECK(plain_error(plain("", "a\xc0\xafz", "pw")) == SaslError::malformed);         // overlong
  CHECK(plain_error(plain("", "a\xed\xa0\x80z", "pw")) == SaslError::malformed);     // surrogate
  CHECK(plain_error(plain("", "a\xf4\x90\x80\x80", "pw")) == SaslError::malformed);  // > U+10FFFF
  CHECK(plain_error(plain("", "a\xe2\x82", "pw")) == SaslError::malformed);          // truncated
  CHECK(plain_error(plain("a\xff", "a\xff", "pw")) == SaslError::malformed);
  CHECK(decode_plain(plain("", "\xf0\x9f\x93\xa7", "pw")));  // U+1F4E7 is fine
}

TEST_CASE("LOGIN asks for the user name, then the password", "[auth][sasl]") {
  LoginExchange x;
  CHECK(x.challenge() == "VXNlcm5hbWU6");
  CHECK(x.challenge() == base64_encode("Username:"));
  auto r1 = x.answer(base64_encode("alice@example.org"));
  REQUIRE(r1);
  CHECK_FALSE(r1->has_value());
  CHECK(x.challenge() == "UGFzc3dvcmQ6");
  CHECK(x.challenge() == base64_encode("Password:"));
  auto r2 = x.answer(base64_encode("s3cret \xc3\xa4"));
  REQUIRE(r2);
  REQUIRE(r2->has_value());
  CHECK((*r2)->authzid.empty());
  CHECK((*r2)->username == "alice@example.org");
  CHECK((*r2)->password == "s3cret \xc3\xa4");
  // The exchange is over.
  CHECK(x.challenge().empty());
  auto r3 = x.answer(base64_encode("more"));
  REQUIRE_FALSE(r3);
  CHECK(r3.error() == SaslError::malformed);
}

TEST_CASE("LOGIN cancel and errors end the exchange", "[auth][sasl]") {
  SECTION("* at the user name") {
    LoginExchange x;
    auto r = x.answer("*");
    REQUIRE_FALSE(r);
    CHECK(r.error() == SaslError::cancelled);
    CHECK(x.challenge().empty());
  }
  SECTION("* at the password") {
    LoginExchange x;
    REQUIRE(x.answer(base64_encode("alice")));
    auto r = x.answer("*");
    REQUIRE_FALSE(r);
    CHECK(r.error() == SaslError::cancelled);
    CHECK(x.challenge().empty());
  }
  SECTION("empty user name") {
    LoginExchange x;
    auto r = x.answer("");
    REQUIRE_FALSE(r);
    CHECK(r.error() == SaslError::malformed);
    LoginExchange y;
    auto s = y.answer("=");  // empty initial response
    REQUIRE_FALSE(s);
    CHECK(s.error() == SaslError::malformed);
  }
  SECTION("empty password") {
    LoginExchange x;
    REQUIRE(x.answer(base64_encode("alice")));
    auto r = x.answer("");
    REQUIRE_FALSE(r);
    CHECK(r.error() == SaslError::malformed);
  }
  SECTION("bad base64") {
    LoginExchange x;
    auto r = x.answer("alice");
    REQUIRE_FALSE(r);
    CHECK(r.error() == SaslError::bad_base64);
    CHECK(x.challenge().empty());
  }
  SECTION("NUL, over-long or non-UTF-8 user name") {
    for (const std::string& u : {std::string("al\0ice", 6), std::string(256, 'u'), std::string("\xfc")}) {
      LoginExchange x;
      auto r = x.answer(base64_encode(u));
      REQUIRE_FALSE(r);
      CHECK(r.error() == SaslError::malformed);
    }
  }
  SECTION("NUL or over-long password") {
    for (const std::string& p : {std::string("p\0w", 3), std::string(256, 'p')}) {
      LoginExchange x;
      REQUIRE(x.answer(base64_encode("alice")));
      auto r = x.answer(base64_encode(p));
      REQUIRE_FALSE(r);
      CHECK(r.error() == SaslError::malformed);
    }
  }
}

TEST_CASE("every SASL error has a description", "[auth][sasl]") {
  for (SaslError e : {SaslError::bad_base64, SaslError::malformed, SaslError::authzid_differs,
                      SaslError::cancelled}) {
    REQUIRE(describe(e) != nullptr);
    CHECK(std::string(describe(e)).size() > 0);
  }
}
