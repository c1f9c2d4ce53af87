// The RETR/TOP body writer: every message is fed whole and one byte at a time (and
// in a few other chunkings) and must give the same output.
#include <catch2/catch.hpp>

#include <string>

#include "server/mail/dot_stuffer.hpp"

using namespace shicks::mail;

namespace {
std::string stuff(const std::string& msg, std::int64_t top, std::size_t chunk) {
  DotStuffer s(top);
  std::string out;
  for (std::size_t i = 0; i < msg.size() && !s.done(); i += chunk) s.feed(std::string_view(msg).substr(i, chunk), out);
  s.finish(out);
  return out;
}

// Checks all chunkings agree and returns the result.
std::string stuffed(const std::string& msg, std::int64_t top = -1) {
  std::string whole = stuff(msg, top, msg.size() + 1);
  for (std::size_t chunk : {1, 2, 3, 5, 64}) {
    INFO("chunk " << chunk);
    CHECK(stuff(msg, top, chunk) == whole);
  }
  return whole;
}
}  // namespace

TEST_CASE("pop3: RETR bodies are dot-stuffed and terminated", "[pop3][stuffer]") {
  struct Row {
    std::string in, out;
  };
  for (const Row& r : {
           Row{"", ".\r\n"},
           Row{"a\r\n", "a\r\n.\r\n"},
           Row{"a", "a\r\n.\r\n"},
           Row{".", "..\r\n.\r\n"},
           Row{".\r\n", "..\r\n.\r\n"},
           Row{"a\r\n.\r\nb\r\n", "a\r\n..\r\nb\r\n.\r\n"},
           Row{"..x\r\n...\r\n", "...x\r\n....\r\n.\r\n"},
           Row{"a.b\r\n .\r\n", "a.b\r\n .\r\n.\r\n"},  // only a leading dot is stuffed
           Row{"a\n.b\n", "a\n..b\n.\r\n"},                // a bare LF still ends a line
           Row{"a\r.b\r\n", "a\r.b\r\n.\r\n"},             // a bare CR does not
           Row{"a\r", "a\r\r\n.\r\n"},
           Row{"\r\n\r\n.", "\r\n\r\n..\r\n.\r\n"},
       }) {
    INFO(r.in);
    CHECK(stuffed(r.in) == r.out);
  }
}

TEST_CASE("pop3: TOP sends the header, the blank line and n body lines", "[pop3][stuffer]") {
  const std::string msg = "From: a\r\nSubject: b\r\n\r\n.one\r\ntwo\r\n\r\nfour\r\n";
  CHECK(stuffed(msg, 0) == "From: a\r\nSubject: b\r\n\r\n.\r\n");
  CHECK(stuffed(msg, 1) == "From: a\r\nSubject: b\r\n\r\n..one\r\n.\r\n");
  CHECK(stuffed(msg, 3) == "From: a\r\nSubject: b\r\n\r\n..one\r\ntwo\r\n\r\n.\r\n");
  CHECK(stuffed(msg, 4) == stuffed(msg));
  CHECK(stuffed(msg, 100) == stuffed(msg));
  // No body: everything there is.
  CHECK(stuffed("From: a\r\nSubject: b", 0) == "From: a\r\nSubject: b\r\n.\r\n");
  CHECK(stuffed("From: a\r\n\r\n", 0) == "From: a\r\n\r\n.\r\n");
  // A last body line without its CRLF gets one.
  CHECK(stuffed("A: b\r\n\r\nlast", 5) == "A: b\r\n\r\nlast\r\n.\r\n");
  // A blank line with a bare LF also ends the header.
  CHECK(stuffed("A: b\n\nbody\n", 0) == "A: b\n\n.\r\n");
  // "\r" then "\n" split over chunks is one blank line, not a header line.
  CHECK(stuffed("A: b\r\n\r\nx\r\ny\r\n", 1) == "A: b\r\n\r\nx\r\n.\r\n");
}

TEST_CASE("pop3: done() lets the driver stop reading early", "[pop3][stuffer]") {
  DotStuffer s(1);
  std::string out;
  s.feed("H: v\r\n\r\nline one\r\nline two", out);
  CHECK(s.done());
  s.feed("more\r\n", out);  // ignored
  s.finish(out);
  CHECK(out == "H: v\r\n\r\nline one\r\n.\r\n");
}

TEST_CASE("pop3: a large message round-trips through stuffing", "[pop3][stuffer]") {
  std::string msg;
  for (int i = 0; i < 5000; ++i) msg += (i % 3 == 0 ? "." : "") + std::to_string(i) + "\r\n";
  std::string out = stuffed(msg);
  // Unstuff as a client would.
  std::string back;
  std::size_t pos = 0;
  for (;;) {
    auto end = out.find("\r\n", pos);
    REQUIRE(end != std::string::npos);
    std::string line = out.substr(pos, end - pos);
    pos = end + 2;
    if (line == ".") break;
    if (!line.empty() && line[0] == '.') line.erase(0, 1);
    back += line + "\r\n";
  }
  CHECK(pos == out.size());
  CHECK(back == msg);
}
