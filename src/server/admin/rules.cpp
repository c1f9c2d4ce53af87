#include "server/admin/rules.hpp"

#include <fmt/core.h>

#include "common/strings.hpp"
#include "server/mail/address.hpp"
#include "server/spam/matcher.hpp"

namespace shicks::admin {

bool valid_utf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    std::size_t n;
    std::uint32_t cp;
    if (c < 0x80) {
      ++i;
      continue;
    } else if (c >= 0xc2 && c <= 0xdf) {
      n = 1;
      cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
      n = 2;
      cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      n = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (s.size() - i - 1 < n) return false;
    for (std::size_t k = 1; k <= n; ++k) {
      auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3f);
    }
    // Overlong forms, surrogates, beyond U+10FFFF.
    if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
      return false;
    i += n + 1;
  }
  return true;
}

std::size_t utf8_length(std::string_view s) {
  std::size_t n = 0;
  for (char c : s)
    if ((static_cast<unsigned char>(c) & 0xc0) != 0x80) ++n;
  return n;
}

namespace {
bool has_control(std::string_view s) {
  for (unsigned char c : s)
    if (c < 0x20 || c == 0x7f) return true;
  return false;
}
}  // namespace

std::optional<std::string> check_user_name(std::string_view name) {
  if (name.empty()) return std::string("a user name must not be empty");
  if (name.size() > kMaxUserName)
    return fmt::format("user name is longer than {} octets", kMaxUserName);
  if (!valid_utf8(name)) return std::string("user name is not valid UTF-8");
  auto ok_first = [](char c) { return is_ascii_alpha(c) || is_ascii_digit(c) || (static_cast<unsigned char>(c) >= 0x80); };
  if (!ok_first(name.front()))
    return fmt::format("user name \"{}\" must begin with a letter or a digit", name);
  for (char c : name) {
    if (ok_first(c) || c == '.' || c == '_' || c == '-') continue;
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
      return std::string("user name must not contain control characters");
    return fmt::format("user name \"{}\" may only contain letters, digits, '.', '_' and '-' (not '{}')", name, c);
  }
  return std::nullopt;
}

std::optional<std::string> check_password(std::string_view password) {
  if (password.empty()) return std::string("the password must not be empty");
  if (password.size() > kMaxPassword) return fmt::format("the password is longer than {} octets", kMaxPassword);
  for (char c : password)
    if (c == '\0' || c == '\r' || c == '\n')
      return std::string("the password must not contain NUL, CR or LF");
  return std::nullopt;
}

Expected<Address, std::string> normalize_address(std::string_view text) {
  if (text.empty()) return unexpected(std::string("an address must not be empty"));
  if (!valid_utf8(text)) return unexpected(std::string("an address must be valid UTF-8"));
  if (has_control(text)) return unexpected(std::string("an address must not contain control characters"));
  Address out;
  if (text.front() == '@') {
    // "@domain": parse it as a mailbox of that domain to reuse the domain rules.
    auto mb = mail::parse_mailbox(fmt::format("postmaster{}", text), true);
    if (!mb) return unexpected(fmt::format("\"{}\" is not a valid catch-all (@domain): {}", text, mb.error()));
    out.domain = mb->domain;
    out.address = "@" + to_lower_ascii(mb->domain);
    out.catch_all = true;
  } else {
    auto mb = mail::parse_mailbox(text, true);
    if (!mb) return unexpected(fmt::format("\"{}\" is not a valid address (local@domain or @domain): {}", text,
                                           mb.error()));
    out.domain = mb->domain;
    out.address = to_lower_ascii(mb->str());
  }
  out.domain = to_lower_ascii(out.domain);
  // RFC 5321 4.5.3.1.3: the path, with its angle brackets, is at most 256 octets.
  if (out.address.size() + 2 > mail::kMaxPath)
    return unexpected(fmt::format("\"{}\" is too long (an address has at most {} octets)", text, mail::kMaxPath - 2));
  return out;
}

Expected<std::string, std::string> normalize_keyword(std::string_view text) {
  std::string_view k = trim(text);
  if (k.empty()) return unexpected(std::string("a spam keyword must not be empty"));
  if (!valid_utf8(k)) return unexpected(std::string("a spam keyword must be valid UTF-8"));
  if (has_control(k)) return unexpected(std::string("a spam keyword must not contain control characters"));
  if (utf8_length(k) > kMaxKeywordChars)
    return unexpected(fmt::format("spam keyword is longer than {} characters", kMaxKeywordChars));
  // What the matcher could not use (over 255 octets, a lone "*", ...) is refused
  // here rather than stored to never match.
  if (auto e = spam::keyword_error(k)) return unexpected(fmt::format("spam keyword cannot be used: {}", *e));
  return std::string(k);
}

}  // namespace shicks::admin
