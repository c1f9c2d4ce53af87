#pragma once
// What the administrator may write: user names, addresses, passwords, spam
// keywords. Pure code (no ASIO, no MySQL), shared by the store and the control
// commands, unit-tested on its own. Every refusal is one line a person can act on.
#include <optional>
#include <string>
#include <string_view>

#include "common/expected.hpp"

namespace shicks::admin {

// Users log in with their name (POP3 USER, SASL PLAIN/LOGIN), so a name is one word:
// 1 to 64 octets of ASCII letters, digits, '.', '_', '-' or non-ASCII UTF-8 letters,
// beginning with a letter or digit. No '@', so a name is never taken for an address.
inline constexpr std::size_t kMaxUserName = 64;
std::optional<std::string> check_user_name(std::string_view name);

// SASL PLAIN/LOGIN carry at most 255 octets and no NUL (RFC 4616); POP3 PASS is one
// line. So: 1 to 255 octets, no NUL, CR or LF.
inline constexpr std::size_t kMaxPassword = 255;
std::optional<std::string> check_password(std::string_view password);

// An address as stored (sql/0001_init.sql): "local@domain" or "@domain" (catch-all),
// parsed with the SMTP parser (RFC 5321/6531), ASCII letters lowercased.
struct Address {
  std::string address;  // stored form
  std::string domain;
  bool catch_all = false;
};
Expected<Address, std::string> normalize_address(std::string_view text);

// A spam keyword: blanks around it removed; 1 to 255 characters of valid UTF-8
// without control characters.
inline constexpr std::size_t kMaxKeywordChars = 255;
Expected<std::string, std::string> normalize_keyword(std::string_view text);

bool valid_utf8(std::string_view s);
// Number of code points of valid UTF-8 text.
std::size_t utf8_length(std::string_view s);

}  // namespace shicks::admin
