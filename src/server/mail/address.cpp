// RFC 5321 4.1.2 (Path, Mailbox, Local-part, Domain, address-literal), 4.1.3
// (address literals), 4.5.3.1 (size limits); RFC 6531 3.3 (UTF-8 in addresses).
#include "server/mail/address.hpp"

#include <arpa/inet.h>

#include <array>

#include "common/strings.hpp"

namespace shicks::mail {

namespace {

constexpr std::size_t kMaxLabel = 63;  // RFC 1035 2.3.4

bool is_non_ascii(char c) { return static_cast<unsigned char>(c) >= 0x80; }
bool is_let_dig(char c) { return is_ascii_alpha(c) || is_ascii_digit(c); }

bool has_non_ascii(std::string_view s) {
  for (char c : s)
    if (is_non_ascii(c)) return true;
  return false;
}

// RFC 3629 4: the length of the well-formed UTF-8 sequence at s[i], 0 if there is
// none (stray continuation byte, overlong form, surrogate, > U+10FFFF, truncated).
std::size_t utf8_sequence(std::string_view s, std::size_t i) {
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = byte(i);
  if (c < 0x80) return 1;
  std::size_t len = 0;
  unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the second byte
  if (c >= 0xC2 && c <= 0xDF) {
    len = 2;
  } else if (c == 0xE0) {
    len = 3;
    lo = 0xA0;  // not overlong
  } else if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF) {
    len = 3;
  } else if (c == 0xED) {
    len = 3;
    hi = 0x9F;  // not a surrogate
  } else if (c == 0xF0) {
    len = 4;
    lo = 0x90;  // not overlong
  } else if (c >= 0xF1 && c <= 0xF3) {
    len = 4;
  } else if (c == 0xF4) {
    len = 4;
    hi = 0x8F;  // not beyond U+10FFFF
  } else {
    return 0;
  }
  if (i + len > s.size()) return 0;
  if (byte(i + 1) < lo || byte(i + 1) > hi) return 0;
  for (std::size_t k = 2; k < len; ++k)
    if (byte(i + k) < 0x80 || byte(i + k) > 0xBF) return 0;
  return len;
}

bool is_valid_utf8(std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    const std::size_t n = utf8_sequence(s, i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

// RFC 5322 3.2.3 atext.
bool is_atext(char c) {
  if (is_let_dig(c)) return true;
  for (char s : std::string_view("!#$%&'*+-/=?^_`{|}~"))
    if (c == s) return true;
  return false;
}

// RFC 5321 4.1.2 Dot-string = Atom *("." Atom), Atom = 1*atext. With `utf8`, RFC
// 6531 3.3 adds UTF8-non-ascii to atext (the caller has checked the encoding).
bool is_dot_string(std::string_view s, bool utf8) {
  bool need_atext = true;  // at the start and after each dot
  for (char c : s) {
    if (c == '.') {
      if (need_atext) return false;
      need_atext = true;
    } else if (is_atext(c) || (utf8 && is_non_ascii(c))) {
      need_atext = false;
    } else {
      return false;
    }
  }
  return !need_atext;
}

// RFC 5321 4.1.2 qtextSMTP = %d32-33 / %d35-91 / %d93-126 (RFC 6531: / UTF8-non-ascii).
bool is_qtext(char c, bool utf8) {
  const auto u = static_cast<unsigned char>(c);
  if (u >= 0x80) return utf8;
  return u >= 32 && u <= 126 && c != '"' && c != '\\';
}

// RFC 5321 4.1.2 Quoted-string = DQUOTE *QcontentSMTP DQUOTE, where quoted-pairSMTP
// = "\" %d32-126. `s` starts at the opening quote; returns the index just past the
// closing quote (0 when there is none) and the unquoted content in `content`.
std::size_t parse_quoted_string(std::string_view s, bool utf8, std::string& content) {
  for (std::size_t i = 1; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '"') return i + 1;
    if (c == '\\') {
      if (i + 1 >= s.size()) return 0;
      const auto next = static_cast<unsigned char>(s[i + 1]);
      if (next < 32 || next > 126) return 0;
      content.push_back(s[++i]);
    } else if (is_qtext(c, utf8)) {
      content.push_back(c);
    } else {
      return 0;
    }
  }
  return 0;
}

bool is_ldh_label(std::string_view label, bool utf8) {
  if (label.empty()) return false;
  const auto letter_or_digit = [&](char c) { return is_let_dig(c) || (utf8 && is_non_ascii(c)); };
  if (!letter_or_digit(label.front()) || !letter_or_digit(label.back())) return false;
  for (char c : label)
    if (!letter_or_digit(c) && c != '-') return false;
  return true;
}

// RFC 5321 4.1.3: IPv4-address-literal / "IPv6:" IPv6-addr / General-address-literal,
// the IP forms checked with inet_pton. `lit` includes the brackets.
Expected<std::string, std::string> parse_address_literal(std::string_view lit) {
  const std::string bad = "Invalid address literal";
  if (lit.size() < 3 || lit.front() != '[' || lit.back() != ']') return unexpected(bad);
  const std::string_view inner = lit.substr(1, lit.size() - 2);
  const auto only = [](std::string_view s, std::string_view allowed_punct, bool hex) {
    for (char c : s) {
      const bool ok = is_ascii_digit(c) || allowed_punct.find(c) != std::string_view::npos ||
                      (hex && ((c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')));
      if (!ok) return false;
    }
    return true;
  };
  // inet_pton reads a C string: the character checks keep NUL and junk out first.
  std::array<unsigned char, 16> buf{};
  if (istarts_with_ascii(inner, "IPv6:")) {
    const std::string_view ip = inner.substr(5);
    if (ip.empty() || ip.size() > 45 || !only(ip, ":.", true)) return unexpected(bad);
    if (inet_pton(AF_INET6, std::string(ip).c_str(), buf.data()) != 1) return unexpected(bad);
    return std::string(lit);
  }
  const auto colon = inner.find(':');
  if (colon == std::string_view::npos) {
    if (inner.size() > 15 || !only(inner, ".", false)) return unexpected(bad);
    if (inet_pton(AF_INET, std::string(inner).c_str(), buf.data()) != 1) return unexpected(bad);
    return std::string(lit);
  }
  // General-address-literal = Standardized-tag ":" 1*dcontent, Standardized-tag =
  // Ldh-str, dcontent = %d33-90 / %d94-126.
  const std::string_view tag = inner.substr(0, colon);
  const std::string_view content = inner.substr(colon + 1);
  if (tag.empty() || !is_let_dig(tag.back())) return unexpected(bad);
  for (char c : tag)
    if (!is_let_dig(c) && c != '-') return unexpected(bad);
  if (content.empty()) return unexpected(bad);
  for (char c : content) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 33 || u > 126 || c == '[' || c == '\\' || c == ']') return unexpected(bad);
  }
  return std::string(lit);
}

// RFC 5321 4.1.2 Domain = sub-domain *("." sub-domain), sub-domain = Let-dig
// [Ldh-str]; RFC 6531 3.3 sub-domain =/ U-label (checked only as well-formed UTF-8
// letters here). Returns the domain with ASCII letters lowercased.
Expected<std::string, std::string> parse_domain(std::string_view d, bool utf8, bool allow_literal) {
  if (d.empty()) return unexpected(std::string("Missing domain"));
  // RFC 5321 4.5.3.1.2.
  if (d.size() > kMaxDomain) return unexpected(std::string("Domain too long (max 255 octets)"));
  if (d.front() == '[') {
    if (!allow_literal) return unexpected(std::string("Invalid domain"));
    return parse_address_literal(d);
  }
  for (std::string_view label : split(d, '.')) {
    if (label.empty()) return unexpected(std::string("Invalid domain (empty label)"));
    // RFC 1035 2.3.4 limits a label to 63 octets. A U-label is limited through its
    // A-label form, which is not computed here, so the limit applies to ASCII labels.
    if (label.size() > kMaxLabel && !has_non_ascii(label))
      return unexpected(std::string("Domain label too long (max 63 octets)"));
    if (!is_ldh_label(label, utf8)) return unexpected(std::string("Invalid domain"));
  }
  return to_lower_ascii(d);
}

// Mailbox = Local-part "@" ( Domain / address-literal ). The caller has checked
// the UTF-8 (or that there is no non-ASCII at all when !utf8).
Expected<Mailbox, std::string> parse_mailbox_checked(std::string_view text, bool utf8) {
  Mailbox mb;
  std::size_t at = 0;
  if (!text.empty() && text.front() == '"') {
    at = parse_quoted_string(text, utf8, mb.local);
    if (at == 0) return unexpected(std::string("Invalid quoted local part"));
    if (at >= text.size() || text[at] != '@') return unexpected(std::string("Missing @domain"));
  } else {
    at = text.find('@');
    if (at == std::string_view::npos) return unexpected(std::string("Missing @domain"));
    mb.local = std::string(text.substr(0, at));
    if (mb.local.empty()) return unexpected(std::string("Missing local part"));
    if (!is_dot_string(mb.local, utf8)) return unexpected(std::string("Invalid local part"));
  }
  // RFC 5321 4.5.3.1.1, counted as the local part is written on the wire.
  if (at > kMaxLocalPart) return unexpected(std::string("Local part too long (max 64 octets)"));
  auto domain = parse_domain(text.substr(at + 1), utf8, true);
  if (!domain) return unexpected(domain.error());
  mb.domain = std::move(*domain);
  mb.utf8 = has_non_ascii(mb.local) || has_non_ascii(mb.domain);
  return mb;
}

// Non-ASCII needs SMTPUTF8 (RFC 6531 3.3); with it, the bytes must be UTF-8.
Expected<void, std::string> check_encoding(std::string_view text, bool utf8) {
  if (!utf8) {
    if (has_non_ascii(text)) return unexpected(std::string("Non-ASCII address requires SMTPUTF8"));
  } else if (!is_valid_utf8(text)) {
    return unexpected(std::string("Invalid UTF-8 in address"));
  }
  return {};
}

}  // namespace

std::string Mailbox::str() const {
  std::string out;
  if (!local.empty() && is_dot_string(local, true)) {
    out = local;
  } else {
    // RFC 5321 4.1.2: a local part that is not a Dot-string goes as a Quoted-string
    // (only '"' and '\' need a quoted-pair).
    out.push_back('"');
    for (char c : local) {
      if (c == '"' || c == '\\') out.push_back('\\');
      out.push_back(c);
    }
    out.push_back('"');
  }
  if (!domain.empty()) {
    out.push_back('@');
    out += domain;
  }
  return out;
}

Expected<Path, std::string> parse_path(std::string_view text, bool utf8) {
  // RFC 5321 4.5.3.1.3: a path is at most 256 octets, punctuation included.
  if (text.size() > kMaxPath) return unexpected(std::string("Path too long (max 256 octets)"));
  if (text.size() < 2 || text.front() != '<' || text.back() != '>')
    return unexpected(std::string("Path must be enclosed in <>"));
  std::string_view inner = text.substr(1, text.size() - 2);
  if (auto enc = check_encoding(inner, utf8); !enc) return unexpected(enc.error());

  Path path;
  if (inner.empty()) {  // RFC 5321 4.1.1.2 / 3.6.3: the null reverse-path
    path.null = true;
    return path;
  }
  // RFC 5321 4.5.1: "<Postmaster>" without a domain must be accepted (RCPT).
  if (iequals_ascii(inner, "postmaster")) {
    path.postmaster = true;
    path.mailbox.local = std::string(inner);
    return path;
  }
  // RFC 5321 4.1.2 A-d-l = At-domain *( "," At-domain ) ":" -- a source route, which
  // "MUST BE accepted, SHOULD NOT be generated, and SHOULD be ignored". Its domains
  // cannot contain ':', so the first colon ends it.
  if (inner.front() == '@') {
    const auto colon = inner.find(':');
    if (colon == std::string_view::npos) return unexpected(std::string("Invalid source route"));
    for (std::string_view hop : split(inner.substr(0, colon), ',')) {
      if (hop.size() < 2 || hop.front() != '@' || !parse_domain(hop.substr(1), utf8, false))
        return unexpected(std::string("Invalid source route"));
    }
    inner.remove_prefix(colon + 1);
  }
  auto mb = parse_mailbox_checked(inner, utf8);
  if (!mb) return unexpected(mb.error());
  path.mailbox = std::move(*mb);
  return path;
}

Expected<Mailbox, std::string> parse_mailbox(std::string_view text, bool utf8) {
  if (auto enc = check_encoding(text, utf8); !enc) return unexpected(enc.error());
  return parse_mailbox_checked(text, utf8);
}

}  // namespace shicks::mail
