#include <catch2/catch.hpp>

#include "server/mail/trace.hpp"

using namespace shicks::mail;

TEST_CASE("the Received header names both ends, escapes the client's words, and folds", "[smtp][trace]") {
  TraceInfo t;
  t.helo = "evil\r\nX-Injected: yes (comment)";
  t.peer_ip = "127.0.0.1";
  t.hostname = "mail.example.org";
  t.with = "ESMTPSA";
  t.id = "ABC123";
  t.tls = "TLSv1.3 TLS_AES_256_GCM_SHA384";
  t.auth_user = "alice";
  t.for_rcpt = "bob@example.org";
  t.when = 1795500000;  // 2026-11-24
  std::string h = received_header(t);
  CHECK(h.rfind("Received: from evil??X-Injected:?yes??comment? ([127.0.0.1])", 0) == 0);
  CHECK(h.find("by mail.example.org (Shicks)") != std::string::npos);
  CHECK(h.find("with ESMTPSA id ABC123") != std::string::npos);
  CHECK(h.find("authenticated as alice") != std::string::npos);
  CHECK(h.find("for <bob@example.org>;") != std::string::npos);
  CHECK(h.find("+0000\r\n") == h.size() - 7);
  // Only CRLF followed by a tab: no header line a client could forge.
  for (std::size_t i = h.find("\r\n"); i != std::string::npos && i + 2 < h.size(); i = h.find("\r\n", i + 1))
    CHECK(h[i + 2] == '\t');
  for (std::size_t start = 0, eol; (eol = h.find("\r\n", start)) != std::string::npos; start = eol + 2)
    CHECK(eol - start <= 78);
}

TEST_CASE("RFC 5322 dates", "[smtp][trace]") {
  CHECK(rfc5322_date(0) == "Thu, 01 Jan 1970 00:00:00 +0000");
  CHECK(rfc5322_date(951782400) == "Tue, 29 Feb 2000 00:00:00 +0000");
}

TEST_CASE("Return-Path for the null sender and a normal one", "[smtp][trace]") {
  CHECK(return_path_header("") == "Return-Path: <>\r\n");
  CHECK(return_path_header("a@b.example") == "Return-Path: <a@b.example>\r\n");
}

TEST_CASE("header summaries unfold and keep only valid UTF-8", "[smtp][trace]") {
  std::string msg =
      "Received: x\r\n"
      "From: Alice <alice@example.org>\r\n"
      "Subject: Hello\r\n"
      "\tfolded world\r\n"
      "X-Other: y\r\n"
      "\r\n"
      "Subject: not a header\r\n";
  auto s = summarize_headers(msg);
  CHECK(s.from == "Alice <alice@example.org>");
  CHECK(s.subject == "Hello folded world");  // RFC 5322 2.2.3: only the CRLF goes
  auto bad = summarize_headers("Subject: caf\xE9 \xC3\xA9t\xC3\xA9\r\n\r\n");
  CHECK(bad.subject == "caf\xEF\xBF\xBD \xC3\xA9t\xC3\xA9");
  auto none = summarize_headers("no headers at all");
  CHECK(none.subject.empty());
  std::string long_subject = "Subject: " + std::string(1000, 'x') + "\r\n\r\n";
  CHECK(summarize_headers(long_subject, 200).subject.size() == 200);
}
