#include <catch2/catch.hpp>

#include <string>

#include "common/base64.hpp"

using shicks::base64_decode;
using shicks::base64_encode;

TEST_CASE("base64 encodes the RFC 4648 test vectors", "[auth][base64]") {
  CHECK(base64_encode("") == "");
  CHECK(base64_encode("f") == "Zg==");
  CHECK(base64_encode("fo") == "Zm8=");
  CHECK(base64_encode("foo") == "Zm9v");
  CHECK(base64_encode("foob") == "Zm9vYg==");
  CHECK(base64_encode("fooba") == "Zm9vYmE=");
  CHECK(base64_encode("foobar") == "Zm9vYmFy");
  CHECK(base64_encode(std::string("\0\xff\xfe", 3)) == "AP/+");
  CHECK(base64_encode("Username:") == "VXNlcm5hbWU6");
  CHECK(base64_encode("Password:") == "UGFzc3dvcmQ6");
}

TEST_CASE("base64 decodes the RFC 4648 test vectors", "[auth][base64]") {
  CHECK(base64_decode("") == std::string());
  CHECK(base64_decode("Zg==") == std::string("f"));
  CHECK(base64_decode("Zm8=") == std::string("fo"));
  CHECK(base64_decode("Zm9v") == std::string("foo"));
  CHECK(base64_decode("Zm9vYg==") == std::string("foob"));
  CHECK(base64_decode("Zm9vYmE=") == std::string("fooba"));
  CHECK(base64_decode("Zm9vYmFy") == std::string("foobar"));
  CHECK(base64_decode("AP/+") == std::string("\0\xff\xfe", 3));
  CHECK(base64_decode("AHVzZXIAcGFzcw==") == std::string("\0user\0pass", 10));
}

TEST_CASE("base64 decoding is strict", "[auth][base64]") {
  const char* bad[] = {
      "=",          // the SASL empty response is not base64: the SASL layer handles it
      "==",   "===",  "====", "A",     "AB",    "ABC",   "Zg",    "Zg=",
      "Zm9",                     // missing padding
      "Zg===",                   // too much padding
      "Z===",                    // three pad characters
      "=Zg=",   "Z=g=", "Zg==Zg==",  // '=' not at the end
      "Zh==",                    // non-zero pad bits (canonical: "Zg==")
      "Zm9=",                    // non-zero pad bits (canonical: "Zm8=")
      "Zm9v ", " Zm9v", "Zm 9v", "Zm9v\r\n", "Zm9v\n", "Zm\t9v",  // whitespace
      "Zm9v-_==", "Zm9_",        // URL-safe alphabet
      "Zm9v!A==", "Zm9v\x80" "AA=",
  };
  for (const char* b : bad) {
    INFO(b);
    CHECK_FALSE(base64_decode(b));
  }
  CHECK_FALSE(base64_decode(std::string("Zm\0v", 4)));
}

TEST_CASE("base64 round-trips every byte value and every length", "[auth][base64]") {
  std::string all;
  for (int i = 0; i < 256; ++i) all.push_back(static_cast<char>(i));
  for (std::size_t len = 0; len <= all.size(); ++len) {
    const std::string in = all.substr(all.size() - len);
    const std::string enc = base64_encode(in);
    CHECK(enc.size() == (len + 2) / 3 * 4);
    auto dec = base64_decode(enc);
    REQUIRE(dec);
    CHECK(*dec == in);
  }
}

TEST_CASE("every accepted base64 text is canonical", "[auth][base64]") {
  // All 4-character texts over a small alphabet that covers each class of symbol.
  const std::string symbols = "AZaz09+/=Qgh-";
  int accepted = 0;
  for (char a : symbols)
    for (char b : symbols)
      for (char c : symbols)
        for (char d : symbols) {
          const std::string t{a, b, c, d};
          auto dec = base64_decode(t);
          if (!dec) continue;
          ++accepted;
          INFO(t);
          CHECK(base64_encode(*dec) == t);
        }
  CHECK(accepted > 0);
}
