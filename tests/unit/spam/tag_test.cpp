#include <catch2/catch.hpp>

#include <string>

#include "server/spam/subject.hpp"
#include "server/spam/tag.hpp"

using namespace shicks::spam;

namespace {

std::string filtered(const std::string& message, const char* keyword) {
  std::string kw = keyword ? keyword : "";
  std::string out = "prefix\r\n";  // appended to, never replaced
  append_filtered(out, message, keyword ? &kw : nullptr);
  REQUIRE(out.compare(0, 8, "prefix\r\n") == 0);
  return out.substr(8);
}

const std::string kBody = "\r\nline 1\r\nSubject: in the body stays\r\nX-Shicks-Spam: yes in the body stays\r\n";

}  // namespace

TEST_CASE("spam: the X-Shicks-Spam value quotes the keyword", "[spam][tag]") {
  CHECK(spam_header_value("viagra") == "yes; keyword=\"viagra\"");
  CHECK(spam_header_value("free money") == "yes; keyword=\"free money\"");
  CHECK(spam_header_value("a\"b\\c") == "yes; keyword=\"a\\\"b\\\\c\"");
  CHECK(spam_header_value("cr\r\nlf\tand\x7F") == "yes; keyword=\"cr  lf and \"");
  CHECK(spam_header_value("\xD0\xBA\xD0\xB0\xD0\xB7\xD0\xB8\xD0\xBD\xD0\xBE") ==
        "yes; keyword=\"\xD0\xBA\xD0\xB0\xD0\xB7\xD0\xB8\xD0\xBD\xD0\xBE\"");
  CHECK(spam_header_value("v*agra") == "yes; keyword=\"v*agra\"");
}

TEST_CASE("spam: has_subject_tag", "[spam][tag]") {
  CHECK(has_subject_tag("[SPAM] hello"));
  CHECK(has_subject_tag("[SPAM]"));
  CHECK(has_subject_tag("[spam]hello"));
  CHECK_FALSE(has_subject_tag("Re: [SPAM] hello"));
  CHECK_FALSE(has_subject_tag("[SPA"));
  CHECK_FALSE(has_subject_tag(""));
}

TEST_CASE("spam: tagged_subject is the Subject a reader sees after tagging", "[spam][tag]") {
  CHECK(tagged_subject("über") == "[SPAM] über");
  CHECK(tagged_subject("") == "[SPAM]");
  CHECK(tagged_subject("[SPAM] already") == "[SPAM] already");
  CHECK(tagged_subject("[spam]x") == "[spam]x");
  CHECK(tagged_subject("Re: [SPAM] x") == "[SPAM] Re: [SPAM] x");
  // The same as a mail reader decoding the field append_filtered writes.
  std::string out;
  const std::string kw = "win";
  append_filtered(out, "Subject: =?utf-8?B?w7xiZXI=?= win\r\n\r\nbody\r\n", &kw);
  CHECK(out.find("Subject: [SPAM] =?utf-8?B?w7xiZXI=?= win\r\n") != std::string::npos);
  CHECK(tagged_subject(decode_subject("=?utf-8?B?w7xiZXI=?= win")) == "[SPAM] über win");
}

TEST_CASE("spam: clean mail passes byte for byte", "[spam][tag]") {
  const std::string messages[] = {
      "From: a@example.org\r\nSubject: hello\r\n" + kBody,
      "Subject: no body, no blank line",
      "",
      "\r\nonly a body\r\n",
      "From: a\nSubject: LF line ends\n\nbody\n",
      "X-Shicks-Spammy: not ours\r\nX-Shicks: not ours\r\n" + kBody,
  };
  for (const auto& m : messages) {
    INFO(m);
    CHECK(filtered(m, nullptr) == m);
  }
}

TEST_CASE("spam: X-Shicks-Spam fields from the sender are removed", "[spam][tag]") {
  struct Case {
    std::string in, out;
  };
  const Case cases[] = {
      {"X-Shicks-Spam: no\r\nSubject: hi\r\n" + kBody, "Subject: hi\r\n" + kBody},
      {"Subject: hi\r\nx-shicks-spam : yes; keyword=\"x\"\r\n folded on\r\n\tand on\r\nTo: b\r\n" + kBody,
       "Subject: hi\r\nTo: b\r\n" + kBody},
      {"X-Shicks-Spam: a\r\nX-Shicks-Spam: b\r\n" + kBody, kBody},
      {"A: 1\r\nX-Shicks-Spam: last, no line end", "A: 1\r\n"},
  };
  for (const auto& c : cases) {
    INFO(c.in);
    CHECK(filtered(c.in, nullptr) == c.out);
  }
}

TEST_CASE("spam: tagging prefixes the Subject once and adds the header", "[spam][tag]") {
  const std::string top = "X-Shicks-Spam: yes; keyword=\"viagra\"\r\n";
  struct Case {
    std::string in, out;
  };
  const Case cases[] = {
      {"From: a\r\nSubject: buy viagra\r\nTo: b\r\n" + kBody,
       top + "From: a\r\nSubject: [SPAM] buy viagra\r\nTo: b\r\n" + kBody},
      // Folded: the tag goes before the text; the folds are kept.
      {"Subject:\r\n  buy\r\n viagra\r\n" + kBody, top + "Subject:\r\n  [SPAM] buy\r\n viagra\r\n" + kBody},
      {"SUBJECT:viagra\r\n" + kBody, top + "SUBJECT: [SPAM] viagra\r\n" + kBody},
      {"Subject :\tviagra\r\n" + kBody, top + "Subject :\t[SPAM] viagra\r\n" + kBody},
      // Already tagged (also when encoded): not again.
      {"Subject: [SPAM] buy viagra\r\n" + kBody, top + "Subject: [SPAM] buy viagra\r\n" + kBody},
      {"Subject: [spam]viagra\r\n" + kBody, top + "Subject: [spam]viagra\r\n" + kBody},
      {"Subject: =?utf-8?B?W1NQQU1dIHZpYWdyYQ==?=\r\n" + kBody,
       top + "Subject: =?utf-8?B?W1NQQU1dIHZpYWdyYQ==?=\r\n" + kBody},
      // Encoded, not tagged: the tag goes before the encoded-word (RFC 2047 5: an
      // encoded-word is separated from text by white space).
      {"Subject: =?utf-8?Q?buy_viagra?=\r\n" + kBody, top + "Subject: [SPAM] =?utf-8?Q?buy_viagra?=\r\n" + kBody},
      // Tag later in the subject does not count.
      {"Subject: Re: [SPAM] viagra\r\n" + kBody, top + "Subject: [SPAM] Re: [SPAM] viagra\r\n" + kBody},
      // Empty Subject.
      {"Subject:\r\n" + kBody, top + "Subject: [SPAM]\r\n" + kBody},
      {"Subject: \r\n" + kBody, top + "Subject: [SPAM]\r\n" + kBody},
      // No Subject.
      {"From: a\r\n" + kBody, top + "Subject: [SPAM]\r\nFrom: a\r\n" + kBody},
      {kBody, top + "Subject: [SPAM]\r\n" + kBody},
      {"", top + "Subject: [SPAM]\r\n"},
      // Only the first Subject field; a Subject-like line in the body is body.
      {"Subject: one\r\nSubject: two\r\n" + kBody, top + "Subject: [SPAM] one\r\nSubject: two\r\n" + kBody},
      {"X-Subject: no\r\nSubject: yes\r\n" + kBody, top + "X-Subject: no\r\nSubject: [SPAM] yes\r\n" + kBody},
      // A sender's X-Shicks-Spam goes, ours comes.
      {"X-Shicks-Spam: no\r\nSubject: viagra\r\n" + kBody, top + "Subject: [SPAM] viagra\r\n" + kBody},
      // LF line ends: the inserted lines follow them.
      {"Subject: viagra\nFrom: a\n\nbody\n",
       "X-Shicks-Spam: yes; keyword=\"viagra\"\nSubject: [SPAM] viagra\nFrom: a\n\nbody\n"},
      {"From: a\n\nbody\n", "X-Shicks-Spam: yes; keyword=\"viagra\"\nSubject: [SPAM]\nFrom: a\n\nbody\n"},
  };
  for (const auto& c : cases) {
    INFO(c.in);
    const std::string out = filtered(c.in, "viagra");
    CHECK(out == c.out);
    // Filtering the result again with the same keyword changes nothing more.
    CHECK(filtered(out, "viagra") == out);
  }
}
