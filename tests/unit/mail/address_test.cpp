#include <catch2/catch.hpp>

#include <string>

#include "server/mail/address.hpp"

using namespace shicks::mail;

namespace {

// A literal with an embedded NUL, all of it.
template <std::size_t N>
std::string with_nul(const char (&lit)[N]) {
  return std::string(lit, N - 1);
}

std::string rep(char c, std::size_t n) { return std::string(n, c); }

// A domain of exactly n octets made of labels of at most 63.
std::string domain_of(std::size_t n) {
  std::string d;
  while (d.size() < n) {
    if (!d.empty()) d += '.';
    const std::size_t left = n - d.size();
    // Never leave a single octet for a last label after a dot.
    std::size_t take = left > 63 ? 63 : left;
    if (left > 63 && left - 63 < 2) take = 61;
    d += rep('d', take);
  }
  return d;
}

}  // namespace

TEST_CASE("parse_path accepts RFC 5321 paths", "[smtp][address]") {
  struct Case {
    std::string text;
    bool utf8;
    std::string local, domain, str;
    bool is_utf8;
  };
  const std::string local64 = rep('l', 64);
  const std::string dom189 = domain_of(189);  // <64 + @ + 189> = 256 octets
  const Case cases[] = {
      {"<user@example.com>", false, "user", "example.com", "user@example.com", false},
      {"<User.Name@Example.COM>", false, "User.Name", "example.com", "User.Name@example.com", false},
      {"<first.last@sub.example.org>", false, "first.last", "sub.example.org", "first.last@sub.example.org", false},
      {"<a!#$%&'*+-/=?^_`{|}~@x.y>", false, "a!#$%&'*+-/=?^_`{|}~", "x.y", "a!#$%&'*+-/=?^_`{|}~@x.y", false},
      {"<user+tag@example.com>", false, "user+tag", "example.com", "user+tag@example.com", false},
      {"<\"john doe\"@example.com>", false, "john doe", "example.com", "\"john doe\"@example.com", false},
      {"<\"john\"@example.com>", false, "john", "example.com", "john@example.com", false},
      {"<\"a\\\"b\"@example.com>", false, "a\"b", "example.com", "\"a\\\"b\"@example.com", false},
      {"<\"a\\\\b\"@x.org>", false, "a\\b", "x.org", "\"a\\\\b\"@x.org", false},
      {"<\"\\a\\b\"@x.org>", false, "ab", "x.org", "ab@x.org", false},
      {"<\"\"@example.com>", false, "", "example.com", "\"\"@example.com", false},
      {"<\"a..b\"@example.com>", false, "a..b", "example.com", "\"a..b\"@example.com", false},
      {"<\"a@b\"@example.com>", false, "a@b", "example.com", "\"a@b\"@example.com", false},
      {"<\"a>b\"@example.com>", false, "a>b", "example.com", "\"a>b\"@example.com", false},
      {"<\".dot\"@example.com>", false, ".dot", "example.com", "\".dot\"@example.com", false},
      {"<user@[192.0.2.1]>", false, "user", "[192.0.2.1]", "user@[192.0.2.1]", false},
      {"<user@[255.255.255.255]>", false, "user", "[255.255.255.255]", "user@[255.255.255.255]", false},
      {"<user@[IPv6:2001:db8::1]>", false, "user", "[IPv6:2001:db8::1]", "user@[IPv6:2001:db8::1]", false},
      {"<user@[ipv6:::1]>", false, "user", "[ipv6:::1]", "user@[ipv6:::1]", false},
      {"<user@[IPv6:::ffff:192.0.2.1]>", false, "user", "[IPv6:::ffff:192.0.2.1]", "user@[IPv6:::ffff:192.0.2.1]", false},
      {"<user@[x-tag:Some-Thing]>", false, "user", "[x-tag:Some-Thing]", "user@[x-tag:Some-Thing]", false},
      // Without "IPv6:" this is a General-address-literal with the tag "2001"; the
      // grammar allows it (and nothing will route to it).
      {"<user@[2001:db8::1]>", false, "user", "[2001:db8::1]", "user@[2001:db8::1]", false},
      {"<@relay.example,@Other.example:user@example.com>", false, "user", "example.com", "user@example.com", false},
      {"<@relay.example:user@example.com>", false, "user", "example.com", "user@example.com", false},
      {"<user@localhost>", false, "user", "localhost", "user@localhost", false},
      {"<user@123.example>", false, "user", "123.example", "user@123.example", false},
      {"<user@xn--bcher-kva.example>", false, "user", "xn--bcher-kva.example", "user@xn--bcher-kva.example", false},
      {"<user@a-b.c--d.example>", false, "user", "a-b.c--d.example", "user@a-b.c--d.example", false},
      {"<user@" + rep('a', 63) + ".example>", false, "user", rep('a', 63) + ".example",
       "user@" + rep('a', 63) + ".example", false},
      {"<" + local64 + "@example.com>", false, local64, "example.com", local64 + "@example.com", false},
      {"<" + local64 + "@" + dom189 + ">", false, local64, dom189, local64 + "@" + dom189, false},
      // RFC 6531: UTF-8 in the local part and in domain labels.
      {"<pel\xC3\xA9@example.com>", true, "pel\xC3\xA9", "example.com", "pel\xC3\xA9@example.com", true},
      {"<\xE7\x94\xA8\xE6\x88\xB7@\xE4\xBE\x8B\xE5\xAD\x90.\xE5\xB9\xBF\xE5\x91\x8A>", true,
       "\xE7\x94\xA8\xE6\x88\xB7", "\xE4\xBE\x8B\xE5\xAD\x90.\xE5\xB9\xBF\xE5\x91\x8A",
       "\xE7\x94\xA8\xE6\x88\xB7@\xE4\xBE\x8B\xE5\xAD\x90.\xE5\xB9\xBF\xE5\x91\x8A", true},
      {"<user@B\xC3\x9C" "CHER.Example>", true, "user", "b\xC3\x9C" "cher.example", "user@b\xC3\x9C" "cher.example", true},
      {"<\"p\xC3\xA9 l\xC3\xA9\"@example.com>", true, "p\xC3\xA9 l\xC3\xA9", "example.com",
       "\"p\xC3\xA9 l\xC3\xA9\"@example.com", true},
      {"<emoji\xF0\x9F\x98\x80@example.com>", true, "emoji\xF0\x9F\x98\x80", "example.com",
       "emoji\xF0\x9F\x98\x80@example.com", true},
      // An ASCII address with the utf8 flag is still ASCII.
      {"<user@example.com>", true, "user", "example.com", "user@example.com", false},
  };
  for (const auto& c : cases) {
    CAPTURE(c.text, c.utf8);
    auto p = parse_path(c.text, c.utf8);
    REQUIRE(p);
    CHECK_FALSE(p->null);
    CHECK_FALSE(p->postmaster);
    CHECK(p->mailbox.local == c.local);
    CHECK(p->mailbox.domain == c.domain);
    CHECK(p->mailbox.str() == c.str);
    CHECK(p->mailbox.utf8 == c.is_utf8);
    // str() re-parses to the same mailbox.
    auto again = parse_path("<" + p->mailbox.str() + ">", c.utf8);
    REQUIRE(again);
    CHECK(again->mailbox.local == c.local);
    CHECK(again->mailbox.domain == c.domain);
  }
}

TEST_CASE("parse_path: the null path and <Postmaster>", "[smtp][address]") {
  auto null = parse_path("<>", false);
  REQUIRE(null);
  CHECK(null->null);
  CHECK_FALSE(null->postmaster);

  for (const char* pm : {"<Postmaster>", "<postmaster>", "<POSTMASTER>", "<PostMaster>"}) {
    CAPTURE(pm);
    auto p = parse_path(pm, false);
    REQUIRE(p);
    CHECK(p->postmaster);
    CHECK_FALSE(p->null);
    CHECK(p->mailbox.domain.empty());
    CHECK(p->mailbox.str() == std::string(pm).substr(1, 10));
  }
  // With a domain it is an ordinary mailbox (the session decides what it means).
  auto with_domain = parse_path("<Postmaster@Example.org>", false);
  REQUIRE(with_domain);
  CHECK_FALSE(with_domain->postmaster);
  CHECK(with_domain->mailbox.str() == "Postmaster@example.org");
}

TEST_CASE("parse_path refuses malformed paths with a precise reason", "[smtp][address]") {
  struct Case {
    std::string text;
    bool utf8;
    const char* reason;
  };
  const std::string local65 = rep('l', 65);
  const Case cases[] = {
      {"", false, "Path must be enclosed in <>"},
      {"<", false, "Path must be enclosed in <>"},
      {">", false, "Path must be enclosed in <>"},
      {"user@example.com", false, "Path must be enclosed in <>"},
      {"<user@example.com", false, "Path must be enclosed in <>"},
      {"user@example.com>", false, "Path must be enclosed in <>"},
      {"<user>", false, "Missing @domain"},
      {"<postmaster2>", false, "Missing @domain"},
      {"<user@>", false, "Missing domain"},
      {"<@example.com>", false, "Invalid source route"},
      {"<@a,b:user@example.com>", false, "Invalid source route"},
      {"<@a,:user@example.com>", false, "Invalid source route"},
      {"<@[192.0.2.1]:user@example.com>", false, "Invalid source route"},
      {"<@a.:user@example.com>", false, "Invalid source route"},
      {"<@a:@b:user@example.com>", false, "Missing local part"},
      {"<.user@example.com>", false, "Invalid local part"},
      {"<user.@example.com>", false, "Invalid local part"},
      {"<us..er@example.com>", false, "Invalid local part"},
      {"<us er@example.com>", false, "Invalid local part"},
      {"<us(er)@example.com>", false, "Invalid local part"},
      {"<us,er@example.com>", false, "Invalid local part"},
      {"<<user@example.com>>", false, "Invalid local part"},
      {"<a\"b\"@example.com>", false, "Invalid local part"},
      {"<\"unterminated@example.com>", false, "Invalid quoted local part"},
      {"<\"a\"b@example.com>", false, "Missing @domain"},
      {"<\"a\tb\"@example.com>", false, "Invalid quoted local part"},
      {std::string("<\"a\\\x01\"@example.com>"), false, "Invalid quoted local part"},
      {with_nul("<\"a\0b\"@example.com>"), false, "Invalid quoted local part"},
      {"<\"a\"@>", false, "Missing domain"},
      {"<user@example.com.>", false, "Invalid domain (empty label)"},
      {"<user@.example.com>", false, "Invalid domain (empty label)"},
      {"<user@exa..mple.com>", false, "Invalid domain (empty label)"},
      {"<user@-example.com>", false, "Invalid domain"},
      {"<user@example-.com>", false, "Invalid domain"},
      {"<user@exa_mple.com>", false, "Invalid domain"},
      {"<user@exa mple.com>", false, "Invalid domain"},
      {"<user@example.com@other.org>", false, "Invalid domain"},
      {"<user@example.com:25>", false, "Invalid domain"},
      {"<user@" + rep('a', 64) + ".example>", false, "Domain label too long (max 63 octets)"},
      {"<user@[192.0.2.256]>", false, "Invalid address literal"},
      {"<user@[192.0.2]>", false, "Invalid address literal"},
      {"<user@[192.0.2.1.5]>", false, "Invalid address literal"},
      {"<user@[ 192.0.2.1]>", false, "Invalid address literal"},
      {"<user@[IPv6:2001:db8::g]>", false, "Invalid address literal"},
      {"<user@[IPv6:192.0.2.1]>", false, "Invalid address literal"},
      {"<user@[IPv6:]>", false, "Invalid address literal"},
      {"<user@[]>", false, "Invalid address literal"},
      {"<user@[192.0.2.1>", false, "Invalid address literal"},
      {"<user@[192.0.2.1]x>", false, "Invalid address literal"},
      {"<user@[tag:]>", false, "Invalid address literal"},
      {"<user@[:x]>", false, "Invalid address literal"},
      {"<user@[tag-:x]>", false, "Invalid address literal"},
      {"<user@[tag:a[b]>", false, "Invalid address literal"},
      {with_nul("<user@[192.0.2.1\0]>"), false, "Invalid address literal"},
      {"<" + local65 + "@example.com>", false, "Local part too long (max 64 octets)"},
      {"<\"" + rep('q', 63) + "\"@example.com>", false, "Local part too long (max 64 octets)"},
      {"<" + rep('l', 64) + "@" + domain_of(190) + ">", false, "Path too long (max 256 octets)"},
      {"<" + rep('x', 3000) + ">", false, "Path too long (max 256 octets)"},
      // RFC 6531: non-ASCII needs SMTPUTF8, and then must be well-formed UTF-8.
      {"<pel\xC3\xA9@example.com>", false, "Non-ASCII address requires SMTPUTF8"},
      {"<user@b\xC3\xBC" "cher.example>", false, "Non-ASCII address requires SMTPUTF8"},
      {"<user@exa\xFFmple.com>", true, "Invalid UTF-8 in address"},
      {"<\xC0\xAF@example.com>", true, "Invalid UTF-8 in address"},          // overlong "/"
      {"<\xE0\x80\xAF@example.com>", true, "Invalid UTF-8 in address"},      // overlong
      {"<\xED\xA0\x80@example.com>", true, "Invalid UTF-8 in address"},      // surrogate
      {"<\xF4\x90\x80\x80@example.com>", true, "Invalid UTF-8 in address"},  // > U+10FFFF
      {"<\xC3@example.com>", true, "Invalid UTF-8 in address"},              // truncated
      {"<\x80@example.com>", true, "Invalid UTF-8 in address"},              // lone continuation
      {"<user@[192.0.2.\xC3\xA9]>", true, "Invalid address literal"},
      {"<\"\\\xC3\xA9\"@example.com>", true, "Invalid quoted local part"},  // quoted-pair is ASCII only
  };
  for (const auto& c : cases) {
    CAPTURE(c.text, c.utf8);
    auto p = parse_path(c.text, c.utf8);
    REQUIRE_FALSE(p);
    CHECK(p.error() == c.reason);
  }
}

TEST_CASE("the size limits of RFC 5321 4.5.3.1 are inclusive", "[smtp][address]") {
  CHECK(parse_mailbox(rep('l', 64) + "@example.com", false));
  CHECK_FALSE(parse_mailbox(rep('l', 65) + "@example.com", false));
  REQUIRE(domain_of(255).size() == 255);
  CHECK(parse_mailbox("u@" + domain_of(255), false));
  auto too_long = parse_mailbox("u@" + domain_of(256), false);
  REQUIRE_FALSE(too_long);
  CHECK(too_long.error() == "Domain too long (max 255 octets)");
  const std::string path256 = "<" + rep('l', 64) + "@" + domain_of(189) + ">";
  REQUIRE(path256.size() == 256);
  CHECK(parse_path(path256, false));
  const std::string path257 = "<" + rep('l', 64) + "@" + domain_of(190) + ">";
  REQUIRE(path257.size() == 257);
  CHECK_FALSE(parse_path(path257, false));
}

TEST_CASE("parse_mailbox takes a bare local@domain", "[smtp][address]") {
  auto m = parse_mailbox("Alice@Example.ORG", false);
  REQUIRE(m);
  CHECK(m->local == "Alice");
  CHECK(m->domain == "example.org");
  CHECK(m->str() == "Alice@example.org");

  auto q = parse_mailbox("\"a b\"@example.org", false);
  REQUIRE(q);
  CHECK(q->local == "a b");

  auto u = parse_mailbox("j\xC3\xBCrgen@example.org", true);
  REQUIRE(u);
  CHECK(u->utf8);

  for (const char* bad : {"<a@b>", "a@b ", " a@b", "a", "@b", "a@", "a@@b", "j\xC3\xBCrgen@example.org", "a@b.",
                          "postmaster", ""}) {
    CAPTURE(bad);
    CHECK_FALSE(parse_mailbox(bad, false));
  }
}

TEST_CASE("Mailbox::str quotes only when the local part is not a Dot-string", "[smtp][address]") {
  struct Case {
    const char* local;
    const char* domain;
    const char* str;
  };
  const Case cases[] = {
      {"plain", "example.com", "plain@example.com"},
      {"a.b", "example.com", "a.b@example.com"},
      {"a b", "example.com", "\"a b\"@example.com"},
      {".a", "example.com", "\".a\"@example.com"},
      {"a.", "example.com", "\"a.\"@example.com"},
      {"a..b", "example.com", "\"a..b\"@example.com"},
      {"a\"b", "example.com", "\"a\\\"b\"@example.com"},
      {"a\\b", "example.com", "\"a\\\\b\"@example.com"},
      {"", "example.com", "\"\"@example.com"},
      {"Postmaster", "", "Postmaster"},
  };
  for (const auto& c : cases) {
    Mailbox m;
    m.local = c.local;
    m.domain = c.domain;
    CHECK(m.str() == c.str);
  }
}
