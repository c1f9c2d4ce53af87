#include <catch2/catch.hpp>

#include <random>
#include <string>
#include <vector>

#include "server/smtp/data_decoder.hpp"

using shicks::smtp::BareLf;
using shicks::smtp::DataDecoder;

namespace {

struct Result {
  std::string out;
  std::size_t consumed = 0;
  bool done = false;
  bool bare = false;
  bool nul = false;
  bool too_big = false;
  std::uint64_t size = 0;
  std::uint64_t normalised = 0;
};

using Chunks = std::vector<std::string_view>;

// Feeds the chunks like a session would: stop at the end of the message; what was
// not consumed is the next command.
Result decode(std::uint64_t max, const Chunks& chunks, BareLf mode = BareLf::reject) {
  DataDecoder d(max, mode);
  Result r;
  for (auto chunk : chunks) {
    const std::size_t n = d.feed(chunk, r.out);
    // Checked without REQUIRE: two million one-byte feeds would be two million assertions.
    if (n > chunk.size()) FAIL("consumed more than it was given");
    r.consumed += n;
    if (d.done()) break;
    if (n != chunk.size()) FAIL("stopped short before the end of the message");
  }
  r.done = d.done();
  r.bare = d.bare_line_ending();
  r.nul = d.nul();
  r.too_big = d.too_big();
  r.size = d.size();
  r.normalised = d.normalised_line_ends();
  return r;
}

Chunks whole(std::string_view s) { return {s}; }

Chunks bytes(std::string_view s) {
  Chunks out;
  for (std::size_t i = 0; i < s.size(); ++i) out.push_back(s.substr(i, 1));
  return out;
}

Chunks random_split(std::string_view s, unsigned seed, std::size_t max_chunk = 23) {
  std::mt19937 rng(seed);
  Chunks out;
  for (std::size_t i = 0; i < s.size();) {
    const std::size_t n = 1 + rng() % max_chunk;
    out.push_back(s.substr(i, n));
    i += n;
  }
  return out;
}

void check_same(const Result& a, const Result& b) {
  CHECK(a.out == b.out);
  CHECK(a.consumed == b.consumed);
  CHECK(a.done == b.done);
  CHECK(a.bare == b.bare);
  CHECK(a.nul == b.nul);
  CHECK(a.too_big == b.too_big);
  CHECK(a.size == b.size);
  CHECK(a.normalised == b.normalised);
}

// Whole, one byte at a time and in random splits: identical results.
Result decode_all_splits(std::uint64_t max, std::string_view input, int random_splits = 8,
                         BareLf mode = BareLf::reject) {
  const Result ref = decode(max, whole(input), mode);
  check_same(decode(max, bytes(input), mode), ref);
  for (int seed = 1; seed <= random_splits; ++seed)
    check_same(decode(max, random_split(input, unsigned(seed)), mode), ref);
  return ref;
}

// RFC 5321 4.5.2, the client side: double a leading dot, end with CRLF.CRLF.
std::string stuff(const std::string& message) {
  std::string out;
  bool line_start = true;
  for (std::size_t i = 0; i < message.size(); ++i) {
    if (line_start && message[i] == '.') out += '.';
    out += message[i];
    line_start = message[i] == '\n' && i > 0 && message[i - 1] == '\r';
  }
  return out + ".\r\n";
}

}  // namespace

TEST_CASE("DataDecoder: unstuffing and the end of data", "[smtp][data]") {
  struct Case {
    std::string input;
    std::string out;
    bool done;
    bool bare;
    std::size_t consumed;  // npos: all of it
  };
  constexpr auto all = std::string::npos;
  const Case cases[] = {
      {"Subject: hi\r\n\r\nbody\r\n.\r\n", "Subject: hi\r\n\r\nbody\r\n", true, false, all},
      {".\r\n", "", true, false, all},                          // an empty message
      {"..\r\n.\r\n", ".\r\n", true, false, all},
      {"..foo\r\n.\r\n", ".foo\r\n", true, false, all},
      {".foo\r\n.\r\n", "foo\r\n", true, false, all},           // 4.5.2: the first dot is deleted
      {"a\r\n..\r\n.\r\n", "a\r\n.\r\n", true, false, all},
      {"a\r\n...\r\n.\r\n", "a\r\n..\r\n", true, false, all},
      {"a.\r\n.\r\n", "a.\r\n", true, false, all},               // not at a line start
      {"a\r\n. \r\n.\r\n", "a\r\n \r\n", true, false, all},
      {"a\r\n.\r\n", "a\r\n", true, false, all},
      {"a\r\n\r\n.\r\n", "a\r\n\r\n", true, false, all},
      {"a\r\n", "a\r\n", false, false, all},
      {"a\r", "a", false, false, all},                           // the CR waits for its LF
      {"a\r\n.", "a\r\n", false, false, all},
      {"a\r\n.\r", "a\r\n", false, false, all},
      {"", "", false, false, all},
      // Pipelined commands after the end stay unconsumed.
      {"x\r\n.\r\nQUIT\r\n", "x\r\n", true, false, 6},
      {"x\r\n.\r\n.\r\n", "x\r\n", true, false, 6},
      {".\r\nRSET\r\n", "", true, false, 3},
      // SMTP smuggling: only CRLF "." CRLF ends the message.
      {"a\n.\nMAIL FROM:<x@y>\r\n", "a\n.\nMAIL FROM:<x@y>\r\n", false, true, all},
      {"a\n.\nb\r\n.\r\n", "a\n.\nb\r\n", true, true, all},
      {"a\r.\rb\r\n.\r\n", "a\r.\rb\r\n", true, true, all},
      {"a\r\n.\nb\r\n.\r\n", "a\r\n\nb\r\n", true, true, all},
      {"a\n.\r\nb\r\n.\r\n", "a\n.\r\nb\r\n", true, true, all},
      {"a\r\n.\r\rb\r\n.\r\n", "a\r\n\r\rb\r\n", true, true, all},  // both CRs bare, the dot deleted
      {"a\r\r\n.\r\n", "a\r\r\n", true, true, all},               // CR CR LF: the second CR pairs
      {"a\r\n.\r\r\n.\r\n", "a\r\n\r\r\n", true, true, all},
      {"\n.\n", "\n.\n", false, true, all},
      {"\r.\r", "\r.", false, true, all},
      {".\n", "\n", false, true, all},
      {".\r.\r\n", "\r.\r\n", false, true, all},
      {"\n.\r\n", "\n.\r\n", false, true, all},
      {"\r\n.\n", "\r\n\n", false, true, all},
      {"x\n\r\n.\r\nQUIT\r\n", "x\n\r\n", true, true, 7},
      {"x\r\n\n.\r\n", "x\r\n\n.\r\n", false, true, all},
  };
  for (const auto& c : cases) {
    CAPTURE(c.input);
    const Result r = decode_all_splits(1000, c.input);
    CHECK(r.out == c.out);
    CHECK(r.done == c.done);
    CHECK(r.bare == c.bare);
    CHECK(r.consumed == (c.consumed == all ? c.input.size() : c.consumed));
    CHECK(r.size == c.out.size());
    CHECK_FALSE(r.too_big);
  }
}

TEST_CASE("DataDecoder: smuggling sequences at every position of a message", "[smtp][data]") {
  const std::string body = "From: a@example.org\r\nSubject: s\r\n\r\nline one\r\nline two\r\n";
  for (const std::string fake : {"\n.\n", "\r.\r", "\r\n.\n", "\n.\r\n", "\r.\r\n", "\n.\r"}) {
    for (std::size_t at = 0; at <= body.size(); ++at) {
      // Not between a CR and its LF: "\r" + "\n.\r\n" would be a real terminator.
      if (at > 0 && body[at - 1] == '\r') continue;
      const std::string input = body.substr(0, at) + fake + "MAIL FROM:<x@y>\r\n" + body.substr(at) + "\r\n.\r\n";
      CAPTURE(fake, at);
      const Result r = decode_all_splits(1u << 20, input, 2);
      REQUIRE(r.done);
      CHECK(r.consumed == input.size());  // only the real terminator ended it
      CHECK(r.bare);
      CHECK(r.out.find("MAIL FROM:<x@y>\r\n") != std::string::npos);
    }
  }
  // The real thing ends the message wherever it is, and leaves the rest.
  for (std::size_t at = 0; at <= body.size(); ++at) {
    if (at > 0 && !(body[at - 1] == '\n')) continue;  // only at line starts
    const std::string input = body.substr(0, at) + ".\r\nMAIL FROM:<x@y>\r\n";
    const Result r = decode_all_splits(1u << 20, input, 2);
    REQUIRE(r.done);
    CHECK(r.consumed == at + 3);
    CHECK(r.out == body.substr(0, at));
    CHECK_FALSE(r.bare);
  }
}

TEST_CASE("DataDecoder: size limit counts on and keeps memory bounded", "[smtp][data]") {
  const std::string msg = "0123456789ABCDEF\r\n";  // 18 octets
  const std::string input = msg + ".\r\nQUIT\r\n";
  {
    const Result r = decode_all_splits(10, input);
    CHECK(r.done);
    CHECK(r.too_big);
    CHECK(r.size == 18);
    CHECK(r.out == "0123456789");  // never more than max_size octets
    CHECK(r.consumed == msg.size() + 3);
  }
  {
    const Result r = decode_all_splits(18, input);
    CHECK_FALSE(r.too_big);
    CHECK(r.out == msg);
  }
  {
    const Result r = decode_all_splits(17, input);
    CHECK(r.too_big);
    CHECK(r.out == msg.substr(0, 17));
  }
  {
    const Result r = decode_all_splits(0, input);
    CHECK(r.too_big);
    CHECK(r.out.empty());
    CHECK(r.size == 18);
  }
  {
    const Result r = decode_all_splits(0, ".\r\n");
    CHECK_FALSE(r.too_big);  // an empty message fits anything
  }
  {
    // Stuffing dots do not count.
    const Result r = decode_all_splits(5, "..abc\r\n.\r\n");
    CHECK(r.size == 6);
    CHECK(r.too_big);
    CHECK(r.out == ".abc\r");
  }
}

TEST_CASE("DataDecoder: nothing is consumed after the end", "[smtp][data]") {
  DataDecoder d(100);
  std::string out;
  CHECK(d.feed("hi\r\n.\r\nNOOP\r\n", out) == 7);
  CHECK(d.done());
  CHECK(d.feed("more", out) == 0);
  CHECK(out == "hi\r\n");
}

TEST_CASE("DataDecoder: a 2 MiB message with dot lines round-trips", "[smtp][data]") {
  std::mt19937 rng(1870);
  std::string message;
  while (message.size() < (2u << 20)) {
    std::string line;
    const int kind = int(rng() % 8);
    if (kind == 0) line = ".";
    else if (kind == 1) line = "..double";
    else if (kind == 2) line = ".leading dot";
    for (std::size_t n = rng() % 120; n > 0; --n) line += char('!' + rng() % 90);
    message += line + "\r\n";
  }
  const std::string input = stuff(message) + "QUIT\r\n";
  const Result ref = decode(64u << 20, whole(input));
  CHECK(ref.done);
  CHECK_FALSE(ref.bare);
  CHECK(ref.size == message.size());
  CHECK(ref.out == message);
  CHECK(ref.consumed == input.size() - 6);
  check_same(decode(64u << 20, bytes(input)), ref);
  check_same(decode(64u << 20, random_split(input, 42, 4096)), ref);
  check_same(decode(64u << 20, random_split(input, 43, 3)), ref);
  // Over the limit: the same octets counted, only max_size kept.
  const Result small = decode(1u << 20, random_split(input, 44, 65536));
  CHECK(small.done);
  CHECK(small.too_big);
  CHECK(small.size == message.size());
  CHECK(small.out == message.substr(0, 1u << 20));
}

TEST_CASE("DataDecoder: random inputs against a reference model", "[smtp][data]") {
  // Reference: line starts are offset 0 and every offset after a CRLF; the message
  // ends at the first line start followed by ".\r\n"; a CR not followed by LF is
  // bare. reject: an LF not preceded by CR is bare too, and kept. normalise: it is
  // stored as CRLF and the offset after it is a line start as well, but not one
  // where the message can end. A dot at any line start before the end is deleted.
  // A NUL anywhere before the end is flagged.
  const auto reference = [](const std::string& in, BareLf mode, Result& r) {
    const auto bare_lf_at = [&](std::size_t p) { return in[p] == '\n' && (p == 0 || in[p - 1] != '\r'); };
    std::size_t end = std::string::npos;
    std::vector<bool> line_start(in.size() + 1, false);
    for (std::size_t p = 0; p <= in.size(); ++p) {
      line_start[p] = p == 0 || (p >= 2 && in[p - 2] == '\r' && in[p - 1] == '\n');
      if (line_start[p] && in.compare(p, 3, ".\r\n") == 0) {
        end = p;
        break;
      }
      if (mode == BareLf::normalise && p >= 1 && bare_lf_at(p - 1)) line_start[p] = true;
    }
    REQUIRE(end != std::string::npos);
    r = Result{};
    for (std::size_t p = 0; p < end; ++p) {
      if (line_start[p] && in[p] == '.') continue;
      if (mode == BareLf::normalise && bare_lf_at(p)) {
        r.out += "\r\n";
        ++r.normalised;
      } else {
        r.out += in[p];
      }
    }
    for (std::size_t p = 0; p < end; ++p) {
      if (in[p] == '\r' && in[p + 1] != '\n') r.bare = true;
      if (mode == BareLf::reject && bare_lf_at(p)) r.bare = true;
      if (in[p] == '\0') r.nul = true;
    }
    r.consumed = end + 3;
    r.done = true;
    r.size = r.out.size();
  };
  std::mt19937 rng(3030);
  const char alphabet[] = {'.', '\r', '\n', 'x', '\0'};
  for (int n = 0; n < 3000; ++n) {
    std::string input;
    for (std::size_t len = rng() % 24; len > 0; --len) input += alphabet[rng() % (n % 2 ? 5 : 4)];
    input += "\r\n.\r\ntail";
    CAPTURE(input);
    Result by_mode[2];
    for (const BareLf mode : {BareLf::reject, BareLf::normalise}) {
      Result expected;
      reference(input, mode, expected);
      CAPTURE(mode == BareLf::normalise);
      const Result r = decode_all_splits(1000, input, 2, mode);
      CHECK(r.out == expected.out);
      CHECK(r.consumed == expected.consumed);
      CHECK(r.bare == expected.bare);
      CHECK(r.nul == expected.nul);
      CHECK(r.normalised == expected.normalised);
      CHECK(r.size == expected.size);
      CHECK(r.done);
      by_mode[mode == BareLf::normalise] = r;
    }
    // The end of data is found at the same byte whatever a bare LF is taken for.
    CHECK(by_mode[0].consumed == by_mode[1].consumed);
    CHECK(by_mode[0].nul == by_mode[1].nul);
    for (std::size_t p = 0; p < by_mode[1].out.size(); ++p)
      if (by_mode[1].out[p] == '\n') CHECK((p > 0 && by_mode[1].out[p - 1] == '\r'));  // no bare LF stored
  }
}

TEST_CASE("DataDecoder: a bare LF is a line end on submission, never an end of data", "[smtp][data]") {
  struct Case {
    std::string input;
    std::string out;
    bool done;
    bool bare;  // a bare CR
    std::uint64_t normalised;
    std::size_t consumed;  // npos: all of it
  };
  constexpr auto all = std::string::npos;
  const Case cases[] = {
      // What `curl -T file` sends for a file of LF lines: the file, then CRLF.CRLF.
      {"Subject: hi\n\nline one\nline two\n\r\n.\r\n",
       "Subject: hi\r\n\r\nline one\r\nline two\r\n\r\n", true, false, 4, all},
      {"a\nb\r\n.\r\n", "a\r\nb\r\n", true, false, 1, all},
      {"a\r\nb\r\n.\r\n", "a\r\nb\r\n", true, false, 0, all},  // CRLF as it was
      {"\n.\r\n", "\r\n\r\n", false, false, 1, all},
      // Fake ends of data are content; the dot of the fake dot line is deleted as at
      // any line start, the smuggled command stays in the message.
      {"a\n.\nMAIL FROM:<x@y>\r\n.\r\n", "a\r\n\r\nMAIL FROM:<x@y>\r\n", true, false, 2, all},
      {"a\n.\r\nMAIL FROM:<x@y>\r\n.\r\n", "a\r\n\r\nMAIL FROM:<x@y>\r\n", true, false, 1, all},
      {"a\r\n.\nMAIL FROM:<x@y>\r\n.\r\n", "a\r\n\r\nMAIL FROM:<x@y>\r\n", true, false, 1, all},
      {"\n.\n", "\r\n\r\n", false, false, 2, all},
      {".\n", "\r\n", false, false, 1, all},
      {"\r\n.\n", "\r\n\r\n", false, false, 1, all},
      {"x\n.\n.\n", "x\r\n\r\n\r\n", false, false, 3, all},  // each dot at a line start
      // Dot-unstuffing after a bare LF: the next line is a line like any other.
      {"\n..x\r\n.\r\n", "\r\n.x\r\n", true, false, 1, all},
      {"a\n.x\n..\n...\r\n.\r\n", "a\r\nx\r\n.\r\n..\r\n", true, false, 3, all},
      {"a\n\r\n.\r\n", "a\r\n\r\n", true, false, 1, all},  // LF, then a real CRLF.CRLF
      {"a\n\n\r\n.\r\nQUIT\r\n", "a\r\n\r\n\r\n", true, false, 2, 8},
      {"..\n.\r\n", ".\r\n\r\n", false, false, 1, all},
      // Bare CR stays refused, in any position.
      {"a\rb\r\n.\r\n", "a\rb\r\n", true, true, 0, all},
      {"a\r\r\n.\r\n", "a\r\r\n", true, true, 0, all},
      {"a\n\r.\r\n.\r\n", "a\r\n\r.\r\n", true, true, 1, all},
      {"a\r.\n.\r\n", "a\r.\r\n\r\n", false, true, 1, all},
  };
  for (const auto& c : cases) {
    CAPTURE(c.input);
    const Result r = decode_all_splits(1000, c.input, 8, BareLf::normalise);
    CHECK(r.out == c.out);
    CHECK(r.done == c.done);
    CHECK(r.bare == c.bare);
    CHECK(r.normalised == c.normalised);
    CHECK(r.consumed == (c.consumed == all ? c.input.size() : c.consumed));
    CHECK(r.size == c.out.size());
    CHECK_FALSE(r.nul);
    // The reject mode ends at the same byte, and refuses what had a bare LF.
    const Result strict = decode_all_splits(1000, c.input, 2, BareLf::reject);
    CHECK(strict.consumed == r.consumed);
    CHECK(strict.done == r.done);
    CHECK(strict.bare == (c.bare || c.normalised > 0));
    CHECK(strict.normalised == 0);
  }
}

TEST_CASE("DataDecoder: smuggling sequences do not end a normalised message either", "[smtp][data]") {
  const std::string body = "From: a@example.org\nSubject: s\r\n\nline one\nline two\r\n";
  const std::pair<std::string, bool> fakes[] = {// the fake end, and whether it holds a bare CR
                                                {"\n.\n", false},   {"\r\n.\n", false}, {"\n.\r\n", false},
                                                {"\n.\r", true},    {"\r.\r\n", true},  {"\r.\r", true}};
  for (const auto& [fake, bare_cr] : fakes) {
    for (std::size_t at = 0; at <= body.size(); ++at) {
      if (at > 0 && body[at - 1] == '\r') continue;  // "\r" + "\n.\r\n" is the real thing
      const std::string input = body.substr(0, at) + fake + "MAIL FROM:<x@y>\r\n" + body.substr(at) + "\r\n.\r\n";
      CAPTURE(fake, at);
      const Result r = decode_all_splits(1u << 20, input, 2, BareLf::normalise);
      REQUIRE(r.done);
      CHECK(r.consumed == input.size());  // only the real terminator ended it
      CHECK(r.out.find("MAIL FROM:<x@y>\r\n") != std::string::npos);
      CHECK(r.bare == bare_cr);
    }
  }
}

TEST_CASE("DataDecoder: a NUL anywhere in the message is flagged, in either mode", "[smtp][data]") {
  using namespace std::string_literals;
  struct Case {
    std::string input;
    bool nul;
    std::size_t consumed;  // npos: all of it
  };
  constexpr auto all = std::string::npos;
  const Case cases[] = {
      {"Subject: a\0b\r\n\r\nbody\r\n.\r\n"s, true, all},  // in the header
      {"Subject: a\r\n\r\nbo\0dy\r\n.\r\n"s, true, all},    // in the body
      {"\0\r\n.\r\n"s, true, all},                           // the first octet
      {".\0\r\n.\r\n"s, true, all},                          // after a deleted dot
      {"x\r\n\0.\r\n.\r\n"s, true, all},                     // at a line start: not a dot line
      {"x\n\0\r\n.\r\n"s, true, all},
      {"x\r\n\0"s, true, all},                               // not finished yet
      {"x\r\n.\r\n\0"s, false, 6},                           // after the end: the next command's
      {"x\r\n.\r\n"s, false, all},
  };
  for (const auto& c : cases) {
    CAPTURE(c.input);
    for (const BareLf mode : {BareLf::reject, BareLf::normalise}) {
      const Result r = decode_all_splits(1000, c.input, 8, mode);
      CHECK(r.nul == c.nul);
      CHECK(r.consumed == (c.consumed == all ? c.input.size() : c.consumed));
    }
  }
  // Past the size limit too: the octet is not kept, but it is seen.
  const std::string big = std::string(100, 'x') + "\0\r\n.\r\n"s;
  const Result r = decode_all_splits(10, big);
  CHECK(r.too_big);
  CHECK(r.nul);
  CHECK(r.out.size() == 10);
}
