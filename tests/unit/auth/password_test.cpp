#include <catch2/catch.hpp>

#include <crypt.h>

#include <stdexcept>
#include <string>

#include "server/auth/password.hpp"

using namespace shicks::auth;

namespace {

// A hash made by libcrypt itself with another scheme, as an operator importing
// accounts from elsewhere would have.
std::string libcrypt_hash(const char* prefix, const std::string& password) {
  char setting[CRYPT_GENSALT_OUTPUT_SIZE];
  REQUIRE(crypt_gensalt_rn(prefix, 0, nullptr, 0, setting, sizeof setting) != nullptr);
  crypt_data data{};
  const char* out = crypt_rn(password.c_str(), setting, &data, sizeof data);
  REQUIRE(out != nullptr);
  return out;
}

}  // namespace

TEST_CASE("a new hash is yescrypt and verifies its password only", "[auth][password]") {
  const std::string h = hash_password("correct horse battery staple");
  CHECK(h.rfind("$y$", 0) == 0);
  CHECK(crypt_checksalt(h.c_str()) == CRYPT_SALT_OK);
  CHECK(verify_password("correct horse battery staple", h));
  CHECK_FALSE(verify_password("correct horse battery stapl", h));
  CHECK_FALSE(verify_password("correct horse battery staple ", h));
  CHECK_FALSE(verify_password("Correct horse battery staple", h));
  CHECK_FALSE(verify_password("", h));
}

TEST_CASE("two hashes of the same password differ (fresh salt)", "[auth][password]") {
  const std::string a = hash_password("same");
  const std::string b = hash_password("same");
  CHECK(a != b);
  CHECK(verify_password("same", a));
  CHECK(verify_password("same", b));
}

TEST_CASE("UTF-8, long and odd passwords hash and verify", "[auth][password]") {
  const std::string utf8 = "p\xc3\xa4ssw\xc3\xb6rd \xe2\x82\xac \xf0\x9f\x94\x91";
  const std::string h = hash_password(utf8);
  CHECK(verify_password(utf8, h));
  CHECK_FALSE(verify_password("p\xe4ssw\xf6rd \x80 ", h));  // the Latin-1 look-alike

  // libcrypt takes passphrases of up to CRYPT_MAX_PASSPHRASE_SIZE - 1 = 511 octets.
  const std::string longest(511, 'x');
  const std::string hl = hash_password(longest);
  CHECK(verify_password(longest, hl));
  CHECK_FALSE(verify_password(std::string(510, 'x'), hl));

  const std::string odd = "\x01\x7f \t\r\n\xff";
  CHECK(verify_password(odd, hash_password(odd)));
  CHECK(verify_password("", hash_password("")));
}

TEST_CASE("passwords libcrypt cannot take are refused cleanly", "[auth][password]") {
  const std::string kib(1024, 'k');
  CHECK_THROWS_AS(hash_password(kib), std::invalid_argument);
  CHECK_THROWS_AS(hash_password(std::string(512, 'k')), std::invalid_argument);
  CHECK_THROWS_AS(hash_password(std::string("a\0b", 3)), std::invalid_argument);

  const std::string h = hash_password("a");
  CHECK_FALSE(verify_password(std::string("a\0b", 3), h));  // not truncated to "a"
  CHECK_FALSE(verify_password(kib, h));
  CHECK_FALSE(verify_dummy(kib));
}

TEST_CASE("hashes from other libcrypt schemes verify", "[auth][password]") {
  const std::string sha512 = libcrypt_hash("$6$", "hunter2");
  CHECK(sha512.rfind("$6$", 0) == 0);
  CHECK(verify_password("hunter2", sha512));
  CHECK_FALSE(verify_password("hunter3", sha512));

  const std::string sha256 = libcrypt_hash("$5$", "hunter2");
  CHECK(verify_password("hunter2", sha256));
  CHECK_FALSE(verify_password("Hunter2", sha256));

  const std::string bcrypt = libcrypt_hash("$2b$", "hunter2");
  CHECK(verify_password("hunter2", bcrypt));
  CHECK_FALSE(verify_password("hunter", bcrypt));

  // Fixed vectors for "password" with salt "saltsalt", as found in shadow files
  // (cross-checked with `openssl passwd -6/-5/-1 -salt saltsalt password`), and a
  // fixed yescrypt hash: stored hashes must keep verifying across libcrypt updates.
  const char* fixed[] = {
      "$6$saltsalt$qFmFH.bQmmtXzyBY0s9v7Oicd2z4XSIecDzlB5KiA2/jctKu9YterLp8wwnSq.qc.eoxqOmSuNp2xS0ktL3nh/",
      "$5$saltsalt$gOjOtoMpVhru2uyjeJSEc/JaLQWOXMNmlOnj6T4AtC.",
      "$1$saltsalt$qjXMvbEw8oaL.CzflDtaK/",
      "$y$j9T$saltsaltsaltsaltsalt$3kaHd/MKTUcb.2r3v7FGfGx1shv9CzxaQ8kUlusNml3",
  };
  for (const char* h : fixed) {
    INFO(h);
    CHECK(verify_password("password", h));
    CHECK_FALSE(verify_password("passwore", h));
    CHECK_FALSE(verify_password("Password", h));
  }
  // One character of the hash changed.
  CHECK_FALSE(verify_password("password", "$y$j9T$saltsaltsaltsaltsalt$3kaHd/MKTUcb.2r3v7FGfGx1shv9CzxaQ8kUlusNml4"));
}

TEST_CASE("malformed and locked hashes never verify", "[auth][password]") {
  const std::string good = hash_password("pw");
  const std::string bad[] = {
      "",
      "*",
      "!",
      "!!",
      "*0",
      "*1",
      "!" + good,  // a locked account (usermod -L style)
      "*" + good,
      "$y$",
      "$y$j9T$",
      "$6$",
      "$6$abc",
      "$2b$05$abc",
      "garbage",
      "$$$$$$$$",
      "$y$j9T$" + std::string(400, 'a'),
      good.substr(0, good.size() - 1),  // truncated
      good + "x",                       // extended
      good.substr(0, good.rfind('$')),  // the setting alone
      std::string(good).insert(5, 1, '\0'),
      std::string(5000, '$'),
  };
  for (const std::string& h : bad) {
    INFO(h);
    CHECK_FALSE(verify_password("pw", h));
    CHECK_FALSE(verify_password("", h));
  }
  CHECK(verify_password("pw", good));
}

TEST_CASE("the dummy verification never succeeds", "[auth][password]") {
  CHECK_FALSE(verify_dummy(""));
  CHECK_FALSE(verify_dummy("pw"));
  CHECK_FALSE(verify_dummy("password"));
  CHECK_FALSE(verify_dummy(std::string("\0", 1)));
}
