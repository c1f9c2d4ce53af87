#include <catch2/catch.hpp>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "server/mail/line_reader.hpp"

using shicks::mail::LineReader;

namespace {

// What a session sees: the lines, and -- once it meets a "DATA" line -- the bytes it
// takes over for the message (buffered ones plus everything that arrives later).
struct Run {
  std::vector<std::string> lines;  // "<too long>" for an over-long line
  std::string taken;
  bool took = false;
  std::size_t max_buffered = 0;    // largest buffered() right after a feed()
  bool operator==(const Run&) const = default;
};

using Chunks = std::vector<std::string>;

Run run(std::size_t max_line, const Chunks& chunks) {
  LineReader reader(max_line);
  Run r;
  for (const auto& chunk : chunks) {
    if (r.took) {
      r.taken += chunk;
      continue;
    }
    reader.feed(chunk);
    r.max_buffered = std::max(r.max_buffered, reader.buffered());
    while (auto line = reader.next()) {
      r.lines.push_back(line->too_long ? "<too long>" : line->text);
      if (!line->too_long && line->text == "DATA") {
        r.took = true;
        r.taken = reader.take();
        REQUIRE(reader.buffered() == 0);
        break;
      }
    }
  }
  if (!r.took) r.taken = reader.take();  // an unfinished line stays buffered
  return r;
}

Chunks whole(const std::string& s) { return {s}; }

Chunks bytes(const std::string& s) {
  Chunks out;
  for (char c : s) out.emplace_back(1, c);
  return out;
}

Chunks random_split(const std::string& s, unsigned seed) {
  std::mt19937 rng(seed);
  Chunks out;
  std::size_t i = 0;
  while (i < s.size()) {
    const std::size_t n = 1 + rng() % 17;
    out.push_back(s.substr(i, n));
    i += n;
  }
  return out;
}

// Every split of the input gives the same lines and the same taken bytes
// (max_buffered naturally differs).
Run run_all_splits(std::size_t max_line, const std::string& input) {
  Run reference = run(max_line, whole(input));
  reference.max_buffered = 0;
  std::vector<Chunks> splits{bytes(input)};
  for (unsigned seed = 1; seed <= 8; ++seed) splits.push_back(random_split(input, seed));
  for (const auto& chunks : splits) {
    Run r = run(max_line, chunks);
    r.max_buffered = 0;
    CHECK(r.lines == reference.lines);
    CHECK(r.taken == reference.taken);
    CHECK(r.took == reference.took);
  }
  return reference;
}

}  // namespace

TEST_CASE("LineReader frames lines the same for any split of the input", "[smtp][line_reader]") {
  struct Case {
    std::string input;
    std::size_t max_line;
    std::vector<std::string> lines;
    std::string rest;  // buffered after the last line (or taken at DATA)
  };
  const std::string l10 = "0123456789";
  const Case cases[] = {
      {"EHLO x\r\nMAIL FROM:<a@b>\r\n", 512, {"EHLO x", "MAIL FROM:<a@b>"}, ""},
      {"NOOP\nQUIT\r\n", 512, {"NOOP", "QUIT"}, ""},        // bare LF ends a line
      {"NOOP\r\r\n", 512, {"NOOP\r"}, ""},                   // only the CR before LF goes
      {"a\rb\r\n", 512, {"a\rb"}, ""},                       // a lone CR is data
      {"a\r", 512, {}, "a\r"},
      {"\r\n\n", 512, {"", ""}, ""},
      {"NOOP", 512, {}, "NOOP"},
      {"RSET\r\nNOO", 512, {"RSET"}, "NOO"},
      {std::string("a\0b\r\n", 5), 512, {std::string("a\0b", 3)}, ""},
      // Limits: max_line counts the text without its line end.
      {l10 + "\r\n", 10, {l10}, ""},
      {l10 + "\n", 10, {l10}, ""},
      {l10 + "A\r\n", 10, {"<too long>"}, ""},
      {l10 + "A\n", 10, {"<too long>"}, ""},
      {l10 + "\r\r\n", 10, {"<too long>"}, ""},
      {l10 + "\r", 10, {}, l10 + "\r"},
      {l10 + l10 + l10 + "\r\nNOOP\r\n", 10, {"<too long>", "NOOP"}, ""},
      {l10 + l10 + "\r\n" + l10 + l10 + "\nQUIT\r\n", 10, {"<too long>", "<too long>", "QUIT"}, ""},
      {"NOOP\r\n" + l10 + l10 + "\r\nQUIT\r\nRSE", 10, {"NOOP", "<too long>", "QUIT"}, "RSE"},
      {"\r\n", 0, {""}, ""},
      {"x\r\n", 0, {"<too long>"}, ""},
      // Pipelined message bytes after DATA are handed over untouched.
      {"MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\nSubject: x\r\n\r\nbody\n.\r\nQUIT\r\n", 512,
       {"MAIL FROM:<a@b>", "RCPT TO:<c@d>", "DATA"}, "Subject: x\r\n\r\nbody\n.\r\nQUIT\r\n"},
      {"DATA\r\n", 512, {"DATA"}, ""},
      {"DATA\n\r\n.\r\n", 512, {"DATA"}, "\r\n.\r\n"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.input, c.max_line);
    const Run r = run_all_splits(c.max_line, c.input);
    CHECK(r.lines == c.lines);
    CHECK(r.taken == c.rest);
  }
}

TEST_CASE("LineReader keeps its buffer bounded under an endless line", "[smtp][line_reader]") {
  constexpr std::size_t kMax = 512;
  constexpr std::size_t kRead = 4096;
  LineReader reader(kMax);
  const std::string junk(kRead, 'x');
  std::size_t max_buffered = 0;
  for (std::size_t sent = 0; sent < (1u << 20); sent += kRead) {
    reader.feed(junk);
    max_buffered = std::max(max_buffered, reader.buffered());
    CHECK_FALSE(reader.next());
    max_buffered = std::max(max_buffered, reader.buffered());
  }
  CHECK(max_buffered <= kMax + 2 + kRead);
  reader.feed(junk.substr(0, 100) + "\r\nQUIT\r\n");
  auto line = reader.next();
  REQUIRE(line);
  CHECK(line->too_long);
  CHECK(line->text.empty());
  line = reader.next();
  REQUIRE(line);
  CHECK_FALSE(line->too_long);
  CHECK(line->text == "QUIT");
  CHECK_FALSE(reader.next());
  CHECK(reader.buffered() == 0);
}

TEST_CASE("LineReader: a 1 MiB line in one read, whole and split", "[smtp][line_reader]") {
  const std::string input = "NOOP\r\n" + std::string(1u << 20, 'y') + "\r\nQUIT\r\n";
  const Run r = run(512, whole(input));
  CHECK(r.lines == std::vector<std::string>{"NOOP", "<too long>", "QUIT"});
  for (unsigned seed : {7u, 8u}) {
    const Run s = run(512, random_split(input, seed));
    CHECK(s.lines == r.lines);
    CHECK(s.max_buffered <= 512 + 2 + 17);
  }
}

TEST_CASE("LineReader::clear drops plaintext buffered before STARTTLS", "[smtp][line_reader]") {
  // RFC 3207 5: commands injected behind STARTTLS must not run after the handshake.
  LineReader reader(512);
  reader.feed("STARTTLS\r\nMAIL FROM:<evil@example>\r\nRCPT TO:<x@y>\r\n");
  auto line = reader.next();
  REQUIRE(line);
  CHECK(line->text == "STARTTLS");
  CHECK(reader.buffered() > 0);
  reader.clear();
  CHECK(reader.buffered() == 0);
  CHECK_FALSE(reader.next());
  reader.feed("EHLO client\r\n");
  line = reader.next();
  REQUIRE(line);
  CHECK(line->text == "EHLO client");
}

TEST_CASE("LineReader::clear and take forget an over-long line in progress", "[smtp][line_reader]") {
  LineReader reader(4);
  reader.feed("0123456789");
  CHECK_FALSE(reader.next());
  reader.clear();
  reader.feed("NOOP\r\n");
  auto line = reader.next();
  REQUIRE(line);
  CHECK_FALSE(line->too_long);
  CHECK(line->text == "NOOP");

  reader.feed("0123456789");
  CHECK_FALSE(reader.next());
  CHECK(reader.take().empty());
  reader.feed("QUIT\n");
  line = reader.next();
  REQUIRE(line);
  CHECK(line->text == "QUIT");
}
