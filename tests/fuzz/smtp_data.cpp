// Fuzz target for the DATA decoder (RFC 5321 4.1.1.4, 4.5.2).
//
// The input is what a client sends after the 354 reply. It is decoded whole, split
// in two at a point derived from the data, and (for small inputs) one byte at a
// time; all three must agree. Invariants (abort() on violation):
//   - feed() never consumes more than it is given, and less only at the end;
//   - the end is a real CRLF "." CRLF (or "." CRLF at the very start);
//   - out holds exactly min(size, max_size) octets;
//   - a complete, not too big message re-stuffed and decoded again is unchanged.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "server/smtp/data_decoder.hpp"

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
  bool done = false, bare = false, too_big = false;
  std::uint64_t size = 0;
  bool operator==(const Result&) const = default;
};

Result decode(std::uint64_t max, const std::vector<std::string_view>& chunks) {
  DataDecoder d(max);
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
  r.too_big = d.too_big();
  r.size = d.size();
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

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  // The first byte picks the size limit, so the too-big path is reached as well.
  const std::uint64_t max = size == 0 ? 0 : (data[0] % 4 == 0 ? data[0] / 4u : 1u << 20);
  const std::size_t cut = size < 2 ? 0 : (data[1] * 257u + data[size - 1]) % (size + 1);

  const Result whole = decode(max, {in});
  require(decode(max, {in.substr(0, cut), in.substr(cut)}) == whole, "split in two == whole");
  if (size <= 4096) {
    std::vector<std::string_view> bytes;
    for (std::size_t i = 0; i < size; ++i) bytes.push_back(in.substr(i, 1));
    require(decode(max, bytes) == whole, "byte at a time == whole");
  }

  require(whole.out.size() == (whole.size < max ? whole.size : max), "out holds min(size, max) octets");
  if (!whole.done) {
    require(whole.consumed == size, "everything consumed until the end");
  } else {
    const std::string_view eaten = in.substr(0, whole.consumed);
    require(eaten.size() >= 3 && eaten.substr(eaten.size() - 3) == ".\r\n", "ends with .CRLF");
    require(eaten.size() == 3 || eaten.substr(eaten.size() - 5, 2) == "\r\n", "the dot starts a CRLF line");
    if (!whole.too_big) {
      const std::string again = stuff(whole.out);
      const Result r = decode(max, {again});
      require(r.done && r.consumed == again.size() && r.out == whole.out && r.bare == whole.bare,
              "re-stuffed message decodes to itself");
    }
  }
  return 0;
}
