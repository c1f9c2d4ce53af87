// Fuzz target for the DATA decoder (RFC 5321 4.1.1.4, 4.5.2).
//
// The input is what a client sends after the 354 reply. It is decoded in both
// bare-LF modes (reject, as on the MX port; normalise, as on submission after AUTH),
// each whole, split in two at a point derived from the data, and (for small inputs)
// one byte at a time; all three must agree. Invariants (abort() on violation):
//   - feed() never consumes more than it is given, and less only at the end;
//   - the end is a real CRLF "." CRLF (or "." CRLF at the very start), found at the
//     same byte in both modes;
//   - out holds exactly min(size, max_size) octets;
//   - nul() says whether the message (the bytes before the end) holds a NUL;
//   - normalise stores no bare LF, and refuses (bare_line_ending) only what reject
//     refuses too; without bare LFs the two modes give the same result;
//   - a complete, not too big message re-stuffed and decoded again is unchanged.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "server/smtp/data_decoder.hpp"

using shicks::smtp::BareLf;
using shicks::smtp::DataDecoder;

namespace {

void require(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "smtp_data invariant violated: %s\n", what);
    std::abort();
  }
}

struct Result {
  std::string out;
  std::size_t consumed = 0;
  bool done = false, bare = false, nul = false, too_big = false;
  std::uint64_t size = 0, normalised = 0;
  bool operator==(const Result&) const = default;
};

Result decode(std::uint64_t max, BareLf mode, const std::vector<std::string_view>& chunks) {
  DataDecoder d(max, mode);
  Result r;
  for (auto chunk : chunks) {
    const std::size_t n = d.feed(chunk, r.out);
    require(n <= chunk.size(), "consumed <= input");
    r.consumed += n;
    if (d.done()) break;
    require(n == chunk.size(), "short only at the end");
  }
  r.done = d.done();
  r.bare = d.bare_line_ending();
  r.nul = d.nul();
  r.too_big = d.too_big();
  r.size = d.size();
  r.normalised = d.normalised_line_ends();
  return r;
}

// RFC 5321 4.5.2, the sending side.
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

// Decodes `in` in `mode` and checks the invariants of one mode; returns the result.
Result check_mode(std::string_view in, std::uint64_t max, std::size_t cut, BareLf mode) {
  const std::size_t size = in.size();
  const Result whole = decode(max, mode, {in});
  require(decode(max, mode, {in.substr(0, cut), in.substr(cut)}) == whole, "split in two == whole");
  if (size <= 4096) {
    std::vector<std::string_view> bytes;
    for (std::size_t i = 0; i < size; ++i) bytes.push_back(in.substr(i, 1));
    require(decode(max, mode, bytes) == whole, "byte at a time == whole");
  }

  require(whole.out.size() == (whole.size < max ? whole.size : max), "out holds min(size, max) octets");
  const std::string_view message = in.substr(0, whole.done ? whole.consumed - 3 : whole.consumed);
  require(whole.nul == (message.find('\0') != std::string_view::npos), "nul() == a NUL before the end");
  if (!whole.done) {
    require(whole.consumed == size, "everything consumed until the end");
  } else {
    const std::string_view eaten = in.substr(0, whole.consumed);
    require(eaten.size() >= 3 && eaten.substr(eaten.size() - 3) == ".\r\n", "ends with .CRLF");
    require(eaten.size() == 3 || eaten.substr(eaten.size() - 5, 2) == "\r\n", "the dot starts a CRLF line");
    if (!whole.too_big) {
      const std::string again = stuff(whole.out);
      const Result r = decode(max, mode, {again});
      require(r.done && r.consumed == again.size() && r.out == whole.out && r.bare == whole.bare && r.nul == whole.nul,
              "re-stuffed message decodes to itself");
    }
  }
  if (mode == BareLf::reject) require(whole.normalised == 0, "reject normalises nothing");
  return whole;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  // The first byte picks the size limit, so the too-big path is reached as well.
  const std::uint64_t max = size == 0 ? 0 : (data[0] % 4 == 0 ? data[0] / 4u : 1u << 20);
  const std::size_t cut = size < 2 ? 0 : (data[1] * 257u + data[size - 1]) % (size + 1);

  const Result strict = check_mode(in, max, cut, BareLf::reject);
  const Result loose = check_mode(in, max, cut, BareLf::normalise);
  require(loose.consumed == strict.consumed && loose.done == strict.done, "the end is the same in both modes");
  require(loose.nul == strict.nul, "nul() is the same in both modes");
  require(!loose.bare || strict.bare, "normalise refuses only what reject refuses");
  for (std::size_t p = 0; p < loose.out.size(); ++p)
    require(loose.out[p] != '\n' || (p > 0 && loose.out[p - 1] == '\r'), "normalise stores no bare LF");
  if (loose.normalised == 0) require(loose == strict, "without a bare LF both modes agree");
  else require(strict.bare, "a normalised LF is one reject refuses");
  return 0;
}
