// Fuzz target for the SASL decoders (PLAIN, LOGIN) and base64.
//
// The input is used four ways:
//   1. as one client line for decode_plain();
//   2. as a decoded PLAIN message: decode_plain(base64(input)), which reaches the
//      field checks that random bytes rarely reach through base64;
//   3. split at '\n' into lines fed to a LoginExchange, both as they are and
//      base64-encoded;
//   4. for base64 round trips.
// Every invariant violation calls abort(). No input may throw.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "common/base64.hpp"
#include "server/auth/sasl.hpp"

using shicks::base64_decode;
using shicks::base64_encode;
using namespace shicks::auth;

namespace {

constexpr std::size_t kMaxField = 255;

void require(bool ok) {
  if (!ok) std::abort();
}

bool has_nul(std::string_view s) { return s.find('\0') != std::string_view::npos; }

void check_identity(const std::string& s) {
  require(!s.empty() && s.size() <= kMaxField && !has_nul(s));
}

void check_password(const std::string& s) {
  require(!s.empty() && s.size() <= kMaxField && !has_nul(s));
}

void check_credentials(const Credentials& c) {
  check_identity(c.username);
  check_password(c.password);
  require(c.authzid.empty() || c.authzid == c.username);
}

std::string plain_message(const Credentials& c) {
  std::string m = c.authzid;
  m.push_back('\0');
  m += c.username;
  m.push_back('\0');
  m += c.password;
  return m;
}

std::size_t count_nul(std::string_view s) {
  std::size_t n = 0;
  for (char ch : s) n += ch == '\0';
  return n;
}

void base64_round_trips(std::string_view in) {
  const std::string enc = base64_encode(in);
  require(enc.size() == (in.size() + 2) / 3 * 4);
  auto dec = base64_decode(enc);
  require(dec.has_value() && *dec == in);

  // Whatever the decoder accepts is canonical: re-encoding gives the text back.
  if (auto d = base64_decode(in)) {
    require(in.size() % 4 == 0);
    require(base64_encode(*d) == in);
    require(d->size() <= in.size() / 4 * 3);
  }
}

void plain_as_line(std::string_view line) {
  auto r = decode_plain(line);
  if (line == "*") {
    require(!r && r.error() == SaslError::cancelled);
    return;
  }
  if (line == "=") {
    require(!r && r.error() == SaslError::malformed);
    return;
  }
  const bool b64 = base64_decode(line).has_value();
  if (!r) {
    require((r.error() == SaslError::bad_base64) == !b64);
    require(r.error() != SaslError::cancelled);
    require(describe(r.error()) != nullptr);
    return;
  }
  require(b64);
  check_credentials(*r);
  // Strict decoding: the credentials re-encode to exactly the client's line.
  require(base64_encode(plain_message(*r)) == line);
}

void plain_as_message(std::string_view msg) {
  auto r = decode_plain(base64_encode(msg));
  if (r) {
    check_credentials(*r);
    require(plain_message(*r) == msg);
    return;
  }
  require(r.error() != SaslError::bad_base64 && r.error() != SaslError::cancelled);
  if (count_nul(msg) != 2) require(r.error() == SaslError::malformed);
  if (r.error() == SaslError::authzid_differs) require(count_nul(msg) == 2);
}

std::vector<std::string_view> split_lines(std::string_view in) {
  std::vector<std::string_view> lines;
  std::size_t start = 0;
  while (lines.size() < 8) {
    const std::size_t nl = in.find('\n', start);
    if (nl == std::string_view::npos) {
      lines.push_back(in.substr(start));
      break;
    }
    lines.push_back(in.substr(start, nl - start));
    start = nl + 1;
  }
  return lines;
}

void login(const std::vector<std::string_view>& lines, bool encode) {
  LoginExchange x;
  int answered = 0;
  bool finished = false;
  for (std::string_view raw : lines) {
    const std::string line = encode ? base64_encode(raw) : std::string(raw);
    const std::string challenge = x.challenge();
    if (finished) {
      require(challenge.empty());
      auto r = x.answer(line);
      require(!r && r.error() == SaslError::malformed);
      continue;
    }
    require(challenge == (answered == 0 ? "VXNlcm5hbWU6" : "UGFzc3dvcmQ6"));
    auto r = x.answer(line);
    if (!r) {
      finished = true;
      if (line == "*") require(r.error() == SaslError::cancelled);
      if (encode) require(r.error() == SaslError::malformed);  // base64 output is never "*"
      if (r.error() == SaslError::bad_base64) require(line != "=" && !base64_decode(line));
      continue;
    }
    ++answered;
    if (answered == 1) {
      require(!r->has_value());
    } else {
      require(r->has_value());
      const Credentials& c = **r;
      require(c.authzid.empty());
      check_identity(c.username);
      check_password(c.password);
      finished = true;
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  base64_round_trips(in);
  plain_as_line(in);
  plain_as_message(in);
  const auto lines = split_lines(in);
  login(lines, false);
  login(lines, true);
  return 0;
}
