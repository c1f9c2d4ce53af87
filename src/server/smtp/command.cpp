// RFC 5321 4.1.1 (commands), 4.1.2 (syntax), 4.1.1.11 (unknown parameters -> 555);
// MAIL parameters of RFC 1870 (SIZE), RFC 6152 / RFC 3030 (BODY), RFC 6531
// (SMTPUTF8) and RFC 4954 5 (AUTH=, xtext of RFC 3461 4); BDAT of RFC 3030 2.
//
// Reply codes (see also command.hpp):
//   501 5.5.2  a control byte (other than HT) in the line
//   500 5.5.2  unknown verb; non-ASCII outside a MAIL/RCPT path
//   501 5.5.4  missing, extra or malformed arguments ("Syntax: ..." hint),
//              malformed or duplicate MAIL parameters, bad SIZE/BODY/AUTH values
//   555 5.5.4  a well-formed but unsupported MAIL or RCPT parameter
//   553 5.6.7  non-ASCII in a path without SMTPUTF8 (RFC 6531 3.5)
//   553 5.1.7  a bad reverse-path (MAIL FROM), 553 5.1.3 a bad forward-path (RCPT
//              TO), over-long parts included (RFC 3463 3.2: X.1.7 bad sender's
//              mailbox syntax, X.1.3 bad destination mailbox syntax). Every address
//              problem is 553 ("mailbox name not allowed", RFC 5321 4.2.3), never 501.
#include "server/smtp/command.hpp"

#include <vector>

#include "common/strings.hpp"

namespace shicks::smtp {

namespace {

struct VerbInfo {
  Verb verb;
  const char* name;
  const char* syntax;  // the hint in a 501 reply
};

constexpr VerbInfo kVerbs[] = {
    {Verb::helo, "HELO", "Syntax: HELO hostname"},
    {Verb::ehlo, "EHLO", "Syntax: EHLO hostname"},
    {Verb::mail, "MAIL", "Syntax: MAIL FROM:<address> [parameters]"},
    {Verb::rcpt, "RCPT", "Syntax: RCPT TO:<address>"},
    {Verb::data, "DATA", "Syntax: DATA"},
    {Verb::bdat, "BDAT", "Syntax: BDAT chunk-size [LAST]"},
    {Verb::rset, "RSET", "Syntax: RSET"},
    {Verb::noop, "NOOP", "Syntax: NOOP [text]"},
    {Verb::quit, "QUIT", "Syntax: QUIT"},
    {Verb::help, "HELP", "Syntax: HELP [topic]"},
    {Verb::vrfy, "VRFY", "Syntax: VRFY address"},
    {Verb::expn, "EXPN", "Syntax: EXPN list"},
    {Verb::starttls, "STARTTLS", "Syntax: STARTTLS"},
    {Verb::auth, "AUTH", "Syntax: AUTH mechanism [initial-response]"},
};

const VerbInfo& info(Verb v) {
  for (const auto& e : kVerbs)
    if (e.verb == v) return e;
  return kVerbs[0];  // unreachable: every Verb has a row
}

bool is_blank(char c) { return c == ' ' || c == '\t'; }
bool is_non_ascii(char c) { return static_cast<unsigned char>(c) >= 0x80; }

bool has_non_ascii(std::string_view s) {
  for (char c : s)
    if (is_non_ascii(c)) return true;
  return false;
}

// Parameter keywords are echoed upper-cased; they are checked esmtp-keywords.
std::string to_upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = ascii_upper(c);
  return out;
}

std::string_view skip_blanks(std::string_view s) {
  while (!s.empty() && is_blank(s.front())) s.remove_prefix(1);
  return s;
}

std::string_view trim_blanks(std::string_view s) {
  s = skip_blanks(s);
  while (!s.empty() && is_blank(s.back())) s.remove_suffix(1);
  return s;
}

Unexpected<Reply> syntax_error(Verb v) { return unexpected(Reply(501, "5.5.4", info(v).syntax)); }
Unexpected<Reply> param_error(std::string text) { return unexpected(Reply(501, "5.5.4", std::move(text))); }
Unexpected<Reply> non_ascii_error() { return unexpected(Reply(500, "5.5.2", "Non-ASCII character in command")); }

// Every address problem is 553; the enhanced code tells sender from recipient.
Unexpected<Reply> address_error(Verb v, const std::string& reason) {
  if (v == Verb::mail) return unexpected(Reply(553, "5.1.7", "Bad sender address syntax: " + reason));
  return unexpected(Reply(553, "5.1.3", "Bad recipient address syntax: " + reason));
}

// RFC 1870 size-value = 1*20DIGIT; RFC 3030 chunk-size = 1*DIGIT (kept to what fits
// in 64 bits).
std::optional<std::uint64_t> parse_number(std::string_view s) {
  if (s.size() > 20) return std::nullopt;
  return parse_u64(s);
}

// RFC 5321 4.1.2 esmtp-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-").
bool is_esmtp_keyword(std::string_view k) {
  if (k.empty() || k.front() == '-') return false;
  for (char c : k)
    if (!is_ascii_alpha(c) && !is_ascii_digit(c) && c != '-') return false;
  return true;
}

// RFC 5321 4.1.2 esmtp-value = 1*(%d33-60 / %d62-126).
bool is_esmtp_value(std::string_view v) {
  if (v.empty()) return false;
  for (char c : v) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 33 || u > 126 || c == '=') return false;
  }
  return true;
}

struct Param {
  std::string_view key;
  std::optional<std::string_view> value;
};

// Mail-parameters = esmtp-param *(SP esmtp-param); runs of blanks are accepted.
Expected<std::vector<Param>, Reply> split_params(std::string_view s) {
  std::vector<Param> out;
  for (s = skip_blanks(s); !s.empty(); s = skip_blanks(s)) {
    std::size_t end = 0;
    while (end < s.size() && !is_blank(s[end])) ++end;
    const std::string_view token = s.substr(0, end);
    s.remove_prefix(end);
    Param p;
    const auto eq = token.find('=');
    p.key = token.substr(0, eq);
    if (eq != std::string_view::npos) p.value = token.substr(eq + 1);
    if (!is_esmtp_keyword(p.key) || (p.value && !is_esmtp_value(*p.value)))
      return param_error("Syntax error in parameters");
    out.push_back(p);
  }
  return out;
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;  // RFC 3461 says upper case; accepted
  return -1;
}

// RFC 3461 4: xtext = *( xchar / hexchar ), hexchar = "+" 2HEXDIG. The value was
// already checked as an esmtp-value (no '=', no blanks, no controls). A decoded
// control byte is refused: the value ends up in logs and headers.
std::optional<std::string> decode_xtext(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '+') {
      if (i + 2 >= s.size()) return std::nullopt;
      const int hi = hex_digit(s[i + 1]), lo = hex_digit(s[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      c = static_cast<char>(hi * 16 + lo);
      i += 2;
      const auto u = static_cast<unsigned char>(c);
      if (u < 0x20 || u == 0x7f) return std::nullopt;
    }
    out.push_back(c);
  }
  return out;
}

// Finds the "<...>" path at the start of `s`; a '>' inside a quoted local part does
// not end it. Returns its length, 0 when `s` does not start with '<', npos when no
// '>' closes it.
std::size_t path_length(std::string_view s) {
  if (s.empty() || s.front() != '<') return 0;
  bool quoted = false;
  for (std::size_t i = 1; i < s.size(); ++i) {
    const char c = s[i];
    if (quoted) {
      if (c == '\\') ++i;
      else if (c == '"') quoted = false;
    } else if (c == '"') {
      quoted = true;
    } else if (c == '>') {
      return i + 1;
    }
  }
  return std::string_view::npos;
}

struct PathAndParams {
  std::string_view path;
  std::vector<Param> params;
};

// "FROM:" / "TO:" then the path and the parameters. "MAIL FROM: <a@b>" (a blank
// after the colon) is not RFC 5321 syntax but common; it is accepted.
Expected<PathAndParams, Reply> split_path_command(Verb v, std::string_view arg, std::string_view prefix) {
  if (!istarts_with_ascii(arg, prefix)) return syntax_error(v);
  std::string_view rest = skip_blanks(arg.substr(prefix.size()));
  const std::size_t len = path_length(rest);
  if (len == 0) return syntax_error(v);
  if (len == std::string_view::npos) return address_error(v, "Missing '>'");
  PathAndParams out;
  out.path = rest.substr(0, len);
  rest.remove_prefix(len);
  if (!rest.empty() && !is_blank(rest.front())) return syntax_error(v);
  if (has_non_ascii(rest)) return non_ascii_error();
  auto params = split_params(rest);
  if (!params) return unexpected(params.error());
  out.params = std::move(*params);
  return out;
}

// Non-ASCII in a path needs SMTPUTF8 (RFC 6531 3.5: 553 5.6.7), then RFC 5321
// syntax.
Expected<mail::Path, Reply> parse_command_path(Verb v, std::string_view text, bool utf8) {
  if (!utf8 && has_non_ascii(text))
    return unexpected(Reply(553, "5.6.7", "Non-ASCII address requires SMTPUTF8"));
  auto path = mail::parse_path(text, utf8);
  if (!path) return address_error(v, path.error());
  return std::move(*path);
}

// MAIL FROM:<reverse-path> [SP Mail-parameters] (RFC 5321 4.1.1.2).
Expected<Command, Reply> parse_mail(std::string_view arg, bool utf8_ok) {
  auto split = split_path_command(Verb::mail, arg, "FROM:");
  if (!split) return unexpected(split.error());
  Command c;
  c.verb = Verb::mail;
  for (const Param& p : split->params) {
    const auto duplicate = [&] { return param_error("Duplicate parameter " + to_upper(p.key)); };
    if (iequals_ascii(p.key, "SIZE")) {  // RFC 1870 6
      if (c.size) return duplicate();
      auto n = p.value ? parse_number(*p.value) : std::nullopt;
      if (!n) return param_error("Invalid SIZE value");
      c.size = *n;
    } else if (iequals_ascii(p.key, "BODY")) {  // RFC 6152 2, RFC 3030 3
      if (c.body != Body::unspecified) return duplicate();
      if (p.value && iequals_ascii(*p.value, "7BIT")) c.body = Body::seven_bit;
      else if (p.value && iequals_ascii(*p.value, "8BITMIME")) c.body = Body::eight_bit_mime;
      else if (p.value && iequals_ascii(*p.value, "BINARYMIME")) c.body = Body::binary_mime;
      else return param_error("Invalid BODY value");
    } else if (iequals_ascii(p.key, "SMTPUTF8")) {  // RFC 6531 3.4: no value
      if (c.smtputf8) return duplicate();
      if (p.value) return param_error("SMTPUTF8 takes no value");
      c.smtputf8 = true;
    } else if (iequals_ascii(p.key, "AUTH")) {  // RFC 4954 5: AUTH=<> or AUTH=xtext(addr-spec)
      if (c.auth) return duplicate();
      auto decoded = p.value ? decode_xtext(*p.value) : std::nullopt;
      if (!decoded || decoded->empty()) return param_error("Invalid AUTH value");
      c.auth = std::move(*decoded);
    } else {  // RFC 5321 4.1.1.11
      return unexpected(Reply(555, "5.5.4", "Unsupported MAIL parameter " + to_upper(p.key)));
    }
  }
  auto path = parse_command_path(Verb::mail, split->path, utf8_ok || c.smtputf8);
  if (!path) return unexpected(path.error());
  // A reverse-path needs a domain; "<Postmaster>" is an exception for RCPT only.
  if (path->postmaster) return address_error(Verb::mail, "Missing @domain");
  c.path = std::move(*path);
  return c;
}

// RCPT TO:<forward-path> (RFC 5321 4.1.1.3). We support no RCPT parameters.
Expected<Command, Reply> parse_rcpt(std::string_view arg, bool utf8_ok) {
  auto split = split_path_command(Verb::rcpt, arg, "TO:");
  if (!split) return unexpected(split.error());
  if (!split->params.empty())  // RFC 5321 4.1.1.11
    return unexpected(Reply(555, "5.5.4", "Unsupported RCPT parameter " + to_upper(split->params.front().key)));
  auto path = parse_command_path(Verb::rcpt, split->path, utf8_ok);
  if (!path) return unexpected(path.error());
  // Forward-path = Path: "<>" is a reverse-path only.
  if (path->null) return address_error(Verb::rcpt, "Null recipient");
  Command c;
  c.verb = Verb::rcpt;
  c.path = std::move(*path);
  return c;
}

// BDAT SP chunk-size [ SP end-marker ] (RFC 3030 2), end-marker = "LAST".
Expected<Command, Reply> parse_bdat(std::string_view arg) {
  Command c;
  c.verb = Verb::bdat;
  std::size_t end = 0;
  while (end < arg.size() && !is_blank(arg[end])) ++end;
  auto n = parse_number(arg.substr(0, end));
  if (!n) return syntax_error(Verb::bdat);
  c.chunk_size = *n;
  const std::string_view marker = skip_blanks(arg.substr(end));
  if (!marker.empty()) {
    if (!iequals_ascii(marker, "LAST")) return syntax_error(Verb::bdat);
    c.last = true;
  }
  return c;
}

}  // namespace

const char* verb_name(Verb v) { return info(v).name; }

Expected<Command, Reply> parse_command(std::string_view line, bool utf8_ok) {
  // The line has no CR/LF; any other control byte is refused, HT is a blank.
  for (char c : line) {
    const auto u = static_cast<unsigned char>(c);
    if ((u < 0x20 && c != '\t') || u == 0x7f)
      return unexpected(Reply(501, "5.5.2", "Invalid character in command"));
  }
  std::size_t verb_end = 0;
  while (verb_end < line.size() && !is_blank(line[verb_end])) ++verb_end;
  const std::string_view verb = line.substr(0, verb_end);
  const VerbInfo* found = nullptr;
  for (const auto& e : kVerbs)
    if (iequals_ascii(verb, e.name)) found = &e;
  if (!found) return unexpected(Reply(500, "5.5.2", "Command unrecognized"));

  // One SP separates verb and argument (RFC 5321 4.1.1); runs of blanks and
  // trailing blanks are tolerated.
  const std::string_view arg = trim_blanks(line.substr(verb_end));
  const Verb v = found->verb;
  if (v == Verb::mail) return parse_mail(arg, utf8_ok);
  if (v == Verb::rcpt) return parse_rcpt(arg, utf8_ok);
  if (has_non_ascii(arg)) return non_ascii_error();

  Command c;
  c.verb = v;
  switch (v) {
    case Verb::helo:
    case Verb::ehlo:
      // RFC 5321 4.1.1.1: a Domain or address literal. Checked loosely (one word):
      // many clients send a bare or unqualified name, and it only goes into Received.
      for (char ch : arg)
        if (is_blank(ch)) return syntax_error(v);
      [[fallthrough]];
    case Verb::vrfy:  // RFC 5321 4.1.1.6: String
    case Verb::expn:  // RFC 5321 4.1.1.7: String
    case Verb::auth:  // RFC 4954 4: mechanism [SP initial-response]
      if (arg.empty()) return syntax_error(v);
      c.arg = std::string(arg);
      return c;
    case Verb::help:  // RFC 5321 4.1.1.8 / 4.1.1.9: an optional String
    case Verb::noop:
      c.arg = std::string(arg);
      return c;
    case Verb::data:
    case Verb::rset:
    case Verb::quit:
    case Verb::starttls:  // RFC 3207 4
      if (!arg.empty()) return syntax_error(v);
      return c;
    case Verb::bdat:
      return parse_bdat(arg);
    case Verb::mail:
    case Verb::rcpt:
      break;
  }
  return c;
}

}  // namespace shicks::smtp
