// Fuzz target for RFC 5321 paths and mailboxes (with RFC 6531 UTF-8).
//
// The first byte's low bit says whether UTF-8 is allowed; the rest is parsed as a
// path and as a bare mailbox. Invariants (abort() on violation):
//   - what parses without UTF-8 parses the same with it, and holds no non-ASCII;
//   - limits of RFC 5321 4.5.3.1 hold: local part <= 64 and domain <= 255 octets;
//   - the domain is lowercase ASCII (address literals excepted);
//   - str() is never longer than the input and re-parses to the same mailbox.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "server/mail/address.hpp"

using namespace shicks::mail;

namespace {

void require(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "smtp_address invariant violated: %s\n", what);
    std::abort();
  }
}

bool same(const Mailbox& a, const Mailbox& b) {
  return a.local == b.local && a.domain == b.domain && a.utf8 == b.utf8;
}

void check_mailbox(const Mailbox& m, bool utf8, std::size_t input_size) {
  bool non_ascii = false;
  for (char c : m.local + m.domain) non_ascii |= static_cast<unsigned char>(c) >= 0x80;
  require(m.utf8 == non_ascii, "utf8 flag matches the content");
  require(utf8 || !non_ascii, "no UTF-8 without SMTPUTF8");
  require(m.domain.size() <= kMaxDomain, "domain limit");
  require(m.local.size() <= kMaxLocalPart, "local part limit");
  if (m.domain.empty() || m.domain[0] != '[')
    for (char c : m.domain) require(!(c >= 'A' && c <= 'Z'), "domain lowercased");
  const std::string s = m.str();
  require(s.size() <= input_size, "str() not longer than the input");
  auto again = parse_mailbox(s, utf8);
  require(bool(again), "str() re-parses as a mailbox");
  require(same(*again, m), "re-parse is identical");
  require(again->str() == s, "str() is stable");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const bool utf8 = data[0] & 1;
  const std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);

  auto path = parse_path(text, utf8);
  if (path) {
    require(text.size() <= kMaxPath, "path limit");
    require(!(path->null && path->postmaster), "null or postmaster, not both");
    if (path->null) require(text == "<>", "only <> is null");
    if (!path->null && !path->postmaster) {
      check_mailbox(path->mailbox, utf8, text.size() - 2);
      auto again = parse_path("<" + path->mailbox.str() + ">", utf8);
      require(again && same(again->mailbox, path->mailbox), "path re-parses");
    }
    if (!utf8) {
      auto wide = parse_path(text, true);
      require(wide && same(wide->mailbox, path->mailbox), "UTF-8 only widens");
    }
  } else {
    require(!path.error().empty() && path.error().find('\n') == std::string::npos, "one-line reason");
  }

  auto mb = parse_mailbox(text, utf8);
  if (mb) {
    check_mailbox(*mb, utf8, text.size());
    auto bracketed = std::string("<") + std::string(text) + ">";
    if (bracketed.size() <= kMaxPath) {
      auto p = parse_path(bracketed, utf8);
      require(p && (p->postmaster || same(p->mailbox, *mb)), "a mailbox in brackets is a path");
    }
  }
  return 0;
}
