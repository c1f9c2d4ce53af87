#include <catch2/catch.hpp>

#include <optional>
#include <string>

#include "server/spam/subject.hpp"
#include "server/spam/utf8.hpp"

using namespace shicks::spam;

namespace {

// Feeds `header` in pieces of `chunk` bytes (0: whole), then finish().
std::optional<std::string> scan(const std::string& header, std::size_t chunk) {
  SubjectScanner scanner;
  if (chunk == 0) {
    scanner.feed(header);
  } else {
    for (std::size_t i = 0; i < header.size(); i += chunk) scanner.feed(std::string_view(header).substr(i, chunk));
  }
  scanner.finish();
  REQUIRE(scanner.done());
  return scanner.raw_subject();
}

std::string show(const std::optional<std::string>& s) { return s ? "\"" + *s + "\"" : "(none)"; }

}  // namespace

TEST_CASE("spam: SubjectScanner finds the first Subject field, folds kept", "[spam][subject]") {
  struct Case {
    std::string header;
    std::optional<std::string> raw;
  };
  const Case cases[] = {
      {"Subject: hello\r\n\r\n", " hello"},
      {"From: a@example.com\r\nSubject: hi\r\nTo: b@example.com\r\n\r\nbody\r\n", " hi"},
      {"subject: lower case name\n\n", " lower case name"},
      {"SUBJECT:no space\r\n", "no space"},
      {"Subject : obsolete space before the colon\r\n\r\n", " obsolete space before the colon"},
      {"Subject\t:\ttab\r\n\r\n", "\ttab"},
      // RFC 5322 2.2.3: continuation lines start with WSP; the line breaks are kept.
      {"Subject: a\r\n b\r\n\tc\r\nX-Other: y\r\n\r\n", " a\r\n b\r\n\tc"},
      {"Subject: a\n b\n\n", " a\n b"},
      {"Subject: last field, no blank line\r\n", " last field, no blank line"},
      {"Subject: no line end at all", " no line end at all"},
      {"Subject:\r\n\r\n", ""},
      {"Subject: one\r\nSubject: two\r\n\r\n", " one"},
      {"X-Subject: no\r\nSubject: yes\r\n\r\n", " yes"},
      {"Subjects: no\r\nSubjec: no\r\n\r\n", std::nullopt},
      {"X-Long: a\r\n Subject: inside another field\r\n\r\n", std::nullopt},
      {"From: x\r\n\r\nSubject: in the body\r\n", std::nullopt},
      {"From: x\n\nSubject: in the body\n", std::nullopt},
      {"\r\nSubject: after an empty header\r\n", std::nullopt},
      {"", std::nullopt},
      {"Subject: bare\rcr inside\r\n\r\n", " bare\rcr inside"},
      {"Subject: ends in a cr\r", " ends in a cr"},
      {"Subject: 8-bit caf\xE9 and \xC3\xA9\r\n\r\n", " 8-bit caf\xE9 and \xC3\xA9"},
      {"Subject: x\r\n\r\n continuation after the blank line\r\n", " x"},
      {"Subject: x\r\nX: y\r\n more of X\r\n", " x"},
  };
  for (const auto& c : cases) {
    INFO("header: " << c.header);
    const auto whole = scan(c.header, 0);
    CHECK(show(whole) == show(c.raw));
    // One byte at a time and in chunks of every size up to 7: the same result.
    for (std::size_t chunk = 1; chunk <= 7; ++chunk) {
      INFO("chunk " << chunk);
      CHECK(show(scan(c.header, chunk)) == show(c.raw));
    }
  }
}

TEST_CASE("spam: SubjectScanner is done at the end of the header or of the field", "[spam][subject]") {
  SubjectScanner a;
  a.feed("From: x\r\nSubject: s\r\n");
  CHECK_FALSE(a.done());  // a continuation line may follow
  a.feed("To: y\r\n");
  CHECK(a.done());
  REQUIRE(a.raw_subject());
  CHECK(*a.raw_subject() == " s");

  SubjectScanner b;
  b.feed("From: x\r\n\r");
  CHECK_FALSE(b.done());
  b.feed("\nSubject: not a header field\r\n");
  CHECK(b.done());
  CHECK_FALSE(b.raw_subject());

  SubjectScanner c;
  c.feed("Subject: s\r\n");
  c.finish();
  CHECK(c.done());
  c.feed("Subject: ignored after finish\r\n");
  CHECK(*c.raw_subject() == " s");
}

TEST_CASE("spam: SubjectScanner keeps at most kMaxRawSubjectBytes", "[spam][subject]") {
  const std::string body(kMaxRawSubjectBytes + 100, 'x');
  SubjectScanner s;
  s.feed("Subject:" + body + "\r\n continued\r\n\r\n");
  REQUIRE(s.done());
  REQUIRE(s.raw_subject());
  CHECK(s.raw_subject()->size() == kMaxRawSubjectBytes);
  CHECK(s.truncated());

  SubjectScanner t;
  t.feed("Subject: short\r\n\r\n");
  CHECK_FALSE(t.truncated());
}

TEST_CASE("spam: decode_subject unfolds and decodes RFC 2047 encoded-words", "[spam][subject]") {
  struct Case {
    std::string raw;
    std::string decoded;
  };
  const Case cases[] = {
      // Plain text and unfolding (RFC 5322 2.2.3).
      {"  plain text  ", "plain text"},
      {"a\r\n b", "a b"},
      {"a\n\tb", "a b"},
      {"a\r\n \t b", "a   b"},
      {"a\r\nb", "a b"},  // a line break without WSP after it is not a fold
      {"a\rb", "a b"},
      {"", ""},
      {"   ", ""},
      // B encoding (RFC 2047 4.1).
      {"=?utf-8?B?SGVsbG8=?=", "Hello"},
      {"=?UTF-8?b?SGVsbG8?=", "Hello"},  // lower-case b, missing padding
      {"=?utf-8?B?0J/RgNC40LLQtdGC?=", "\xD0\x9F\xD1\x80\xD0\xB8\xD0\xB2\xD0\xB5\xD1\x82"},
      {"=?utf-8?B?\?=", ""},  // empty encoded text
      // Q encoding (RFC 2047 4.2): "_" is a space, hex in either case.
      {"=?utf-8?Q?caf=C3=A9?=", "caf\xC3\xA9"},
      {"=?utf-8?q?caf=c3=a9?=", "caf\xC3\xA9"},
      {"=?iso-8859-1?Q?free_money?=", "free money"},
      {"=?utf-8?Q?100=25_=ZZ_=4?=", "100% =ZZ =4"},  // a bad "=" escape stays as it is
      {"=?utf-8?Q?a=0D=0Ab?=", "a  b"},            // controls become spaces
      {"=?utf-8*en?Q?language_suffix?=", "language suffix"},  // RFC 2231 5
      // Whitespace between adjacent encoded-words is dropped (RFC 2047 6.2), not
      // between an encoded-word and text.
      {"=?utf-8?Q?a?= =?utf-8?Q?b?=", "ab"},
      {"=?utf-8?Q?a?=\r\n =?utf-8?Q?b?=", "ab"},
      {"=?utf-8?Q?a?=\r\n\t=?iso-8859-1?Q?b?=", "ab"},
      {"=?utf-8?Q?a?==?utf-8?Q?b?=", "ab"},
      {"=?utf-8?Q?a_?= =?utf-8?Q?b?=", "a b"},
      {"=?utf-8?Q?a?= b", "a b"},
      {"a =?utf-8?Q?b?=", "a b"},
      {"a =?utf-8?Q?b?= c =?utf-8?Q?d?=  e", "a b c d  e"},
      {"Buy=?utf-8?Q?_now?=!", "Buy now!"},  // glued to text: decoded all the same
      // Split words: a character split across two words, a base64 quantum split,
      // a fold inside one word's encoded text.
      {"=?utf-8?Q?caf=C3?= =?utf-8?Q?=A9?=", "caf\xC3\xA9"},
      {"=?utf-8?B?0LLQ?=\r\n =?utf-8?B?uNCw0LPRgNCw?=",
       "\xD0\xB2\xD0\xB8\xD0\xB0\xD0\xB3\xD1\x80\xD0\xB0"},
      {"=?utf-8?B?0A==?= =?UTF-8?B?stC40LDQs9GA0LA=?=",
       "\xD0\xB2\xD0\xB8\xD0\xB0\xD0\xB3\xD1\x80\xD0\xB0"},
      {"=?utf-8?B?SGVsb?= =?utf-8?B?G8=?=", "Hello"},
      {"=?utf-8?Q?free\r\n _money?=", "free money"},
      {"=?utf-8?B?SGVs\r\n bG8=?=", "Hello"},
      // Malformed words stay literal text.
      {"=?utf-8?B?###?=", "=?utf-8?B?###?="},
      {"=?x-unknown-charset?Q?abc?=", "=?x-unknown-charset?Q?abc?="},
      {"=?utf-8?Q?abc", "=?utf-8?Q?abc"},
      {"=?utf-8?Q?abc?", "=?utf-8?Q?abc?"},
      {"=?utf-8?X?abc?=", "=?utf-8?X?abc?="},
      {"=?\?Q?abc?=", "=?\?Q?abc?="},  // empty charset
      {"=?utf-8?Q?a b?=", "=?utf-8?Q?a b?="},
      {"=?utf-8?Q?a\r\nb?=", "=?utf-8?Q?a b?="},
      {"=?utf/8?Q?a?=", "=?utf/8?Q?a?="},
      {"=?utf-8//TRANSLIT?Q?a?=", "=?utf-8//TRANSLIT?Q?a?="},
      {"=?=?utf-8?Q?x?=", "=?x"},
      {"=?utf-8?B?###?= =?utf-8?Q?ok?=", "=?utf-8?B?###?= ok"},
      {"=?utf-8?Q?ok?= =?x-unknown?Q?no?=", "ok =?x-unknown?Q?no?="},
      // Native charsets: US-ASCII and ISO-8859-1 labels read as Windows-1252.
      {"=?us-ascii?Q?hello?=", "hello"},
      {"=?US-ASCII?Q?=80?=", "\xE2\x82\xAC"},
      {"=?ISO-8859-1?Q?Gr=FC=DFe?=", "Gr\xC3\xBC\xC3\x9F" "e"},
      {"=?latin1?Q?=A4?=", "\xC2\xA4"},
      {"=?iso-8859-15?Q?=A4uro_=A6=A8=B4=B8=BC=BD=BE?=",
       "\xE2\x82\xAC" "uro \xC5\xA0\xC5\xA1\xC5\xBD\xC5\xBE\xC5\x92\xC5\x93\xC5\xB8"},
      {"=?windows-1252?Q?=80_=93quoted=94_=99?=", "\xE2\x82\xAC \xE2\x80\x9Cquoted\xE2\x80\x9D \xE2\x84\xA2"},
      {"=?cp1252?Q?a=81x?=", "a x"},  // unassigned: a C1 control, so a space
      {"=?utf-8?Q?a=FFb?=", "a\xEF\xBF\xBD" "b"},  // invalid in a declared UTF-8 word: U+FFFD
      {"=?utf-8?Q?=E2=82?=", "\xEF\xBF\xBD\xEF\xBF\xBD"},
      // Other charsets through iconv, stateful ones included.
      {"=?koi8-r?Q?=D7=C9=C1=C7=D2=C1?=", "\xD0\xB2\xD0\xB8\xD0\xB0\xD0\xB3\xD1\x80\xD0\xB0"},
      {"=?iso-8859-7?Q?=C3=E5=E9=E1_=F3=EF=F5?=",
       "\xCE\x93\xCE\xB5\xCE\xB9\xCE\xB1 \xCF\x83\xCE\xBF\xCF\x85"},
      {"=?ISO-2022-JP?B?GyRCJUYlOSVIGyhC?=", "\xE3\x83\x86\xE3\x82\xB9\xE3\x83\x88"},
      {"=?utf-16be?B?AEcAcgD8AN8AZQ==?=", "Gr\xC3\xBC\xC3\x9F" "e"},
      {"=?gb2312?B?xOO6ww==?=", "\xE4\xBD\xA0\xE5\xA5\xBD"},
      {"=?UTF-7?Q?Hi_+BDIEOAQwBDMEQAQw-?=", "Hi \xD0\xB2\xD0\xB8\xD0\xB0\xD0\xB3\xD1\x80\xD0\xB0"},
      {"=?shift_jis?Q?a=80b?=", "a\xEF\xBF\xBD" "b"},  // a byte iconv cannot convert: U+FFFD
      {"=?utf-16le?B?QQBC?=", "A\xEF\xBF\xBD"},         // an incomplete character at the end
      // Raw 8-bit text: UTF-8 where valid, other bytes as Windows-1252.
      {"Caf\xC3\xA9", "Caf\xC3\xA9"},
      {"Caf\xE9", "Caf\xC3\xA9"},
      {"\x93hi\x94", "\xE2\x80\x9Chi\xE2\x80\x9D"},
      {"\xC3", "\xC3\x83"},
      {"\xED\xA0\x80", "\xC3\xAD\xC2\xA0\xE2\x82\xAC"},  // a UTF-8 surrogate: three bytes of Windows-1252
      {"a\x01" "b\x7F" "c", "a b c"},
      {"\xD0\x92\xD0\x98\xD0\x90\xD0\x93\xD0\xA0\xD0\x90 =?utf-8?Q?=D0=B2?=",
       "\xD0\x92\xD0\x98\xD0\x90\xD0\x93\xD0\xA0\xD0\x90 \xD0\xB2"},
  };
  for (const auto& c : cases) {
    INFO("raw: " << c.raw);
    const std::string decoded = decode_subject(c.raw);
    CHECK(decoded == c.decoded);
    CHECK(is_valid_utf8(decoded));
  }
}

TEST_CASE("spam: extract_subject reads a header as a person would", "[spam][subject]") {
  const std::string header =
      "Received: from x by y\r\n"
      "From: =?utf-8?Q?Spam_Sender?= <s@example.com>\r\n"
      "Subject: =?utf-8?B?0JrRg9C/0LjRgtGM?=\r\n"
      " =?utf-8?Q?_=D0=92=D0=98=D0=90?=\r\n"
      "\t=?utf-8?Q?=D0=93=D0=A0=D0=90?= now!\r\n"
      "To: you@example.com\r\n"
      "\r\n"
      "Subject: not this one\r\n";
  const auto subject = extract_subject(header);
  REQUIRE(subject);
  CHECK(*subject ==
        "\xD0\x9A\xD1\x83\xD0\xBF\xD0\xB8\xD1\x82\xD1\x8C \xD0\x92\xD0\x98\xD0\x90\xD0\x93\xD0\xA0\xD0\x90 now!");
  CHECK_FALSE(extract_subject("From: x\r\n\r\n"));
}

TEST_CASE("spam: decode_subject survives every prefix of tricky input", "[spam][subject]") {
  const std::string inputs[] = {
      "=?utf-8?B?0LLQ?=\r\n =?utf-8?B?uNCw0LPRgNCw?= tail",
      "=?ISO-2022-JP?B?GyRCJUYlOSVIGyhC?= =?koi8-r?Q?=D7=C9?=",
      "=?utf-8?Q?free\r\n _money=C3=A9?= =?iso-8859-15?q?=A4?=",
      "Caf\xE9 \xF0\x9F\x98\x80 =?utf-16le?B?QQBCAA==?= =?utf-8*en?q?x?=",
      "=?=?=?utf-8?Q?=?==?utf-8?B?=?=",
  };
  for (const auto& input : inputs) {
    for (std::size_t n = 0; n <= input.size(); ++n) {
      const std::string prefix = input.substr(0, n);
      INFO("prefix: " << prefix);
      const std::string decoded = decode_subject(prefix);
      CHECK(is_valid_utf8(decoded));
      CHECK(decoded.size() <= 3 * prefix.size());
      const auto extracted = extract_subject("Subject: " + prefix);
      REQUIRE(extracted);
      CHECK(*extracted == decoded);
    }
  }
}
