#include "common/base64.hpp"

#include <array>
#include <cstdint>

// RFC 4648 section 4, standard alphabet, always padded.
//
// Decoding is strict, as SASL wants it (RFC 4954 section 4, RFC 4648 section 3.3):
//   - only the 64 alphabet characters and '=' are accepted: no whitespace, no
//     line breaks, no URL-safe alphabet;
//   - the length is a multiple of 4, with at most two '=' and only at the end;
//   - the pad bits of the last group must be zero (RFC 4648 3.5 allows decoders to
//     reject non-canonical encodings; we do, so every byte string has exactly one
//     accepted encoding and decode(encode(x)) == x, encode(decode(t)) == t);
//   - the empty string decodes to the empty string. "=" (the SASL empty initial
//     response) is not base64 and is rejected here; the SASL layer handles it.

namespace shicks {
namespace {

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

constexpr std::uint8_t kInvalid = 0xFF;

constexpr std::array<std::uint8_t, 256> make_decode_table() {
  std::array<std::uint8_t, 256> t{};
  for (auto& v : t) v = kInvalid;
  for (std::uint8_t i = 0; i < 64; ++i) t[static_cast<unsigned char>(kAlphabet[i])] = i;
  return t;
}

constexpr std::array<std::uint8_t, 256> kDecode = make_decode_table();

}  // namespace

std::string base64_encode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    std::uint32_t v = (std::uint32_t(static_cast<unsigned char>(bytes[i])) << 16) |
                      (std::uint32_t(static_cast<unsigned char>(bytes[i + 1])) << 8) |
                      std::uint32_t(static_cast<unsigned char>(bytes[i + 2]));
    out.push_back(kAlphabet[(v >> 18) & 63]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    out.push_back(kAlphabet[(v >> 6) & 63]);
    out.push_back(kAlphabet[v & 63]);
  }
  const std::size_t rest = bytes.size() - i;
  if (rest == 1) {
    std::uint32_t v = std::uint32_t(static_cast<unsigned char>(bytes[i])) << 16;
    out.push_back(kAlphabet[(v >> 18) & 63]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    out.append("==");
  } else if (rest == 2) {
    std::uint32_t v = (std::uint32_t(static_cast<unsigned char>(bytes[i])) << 16) |
                      (std::uint32_t(static_cast<unsigned char>(bytes[i + 1])) << 8);
    out.push_back(kAlphabet[(v >> 18) & 63]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    out.push_back(kAlphabet[(v >> 6) & 63]);
    out.push_back('=');
  }
  return out;
}

std::optional<std::string> base64_decode(std::string_view text) {
  if (text.size() % 4 != 0) return std::nullopt;
  std::string out;
  if (text.empty()) return out;

  std::size_t pad = 0;
  if (text.back() == '=') pad = text[text.size() - 2] == '=' ? 2 : 1;
  const std::size_t body = text.size() - pad;  // characters that must be in the alphabet

  out.reserve(text.size() / 4 * 3);
  std::uint32_t acc = 0;
  for (std::size_t i = 0; i < body; ++i) {
    const std::uint8_t d = kDecode[static_cast<unsigned char>(text[i])];
    if (d == kInvalid) return std::nullopt;  // bad character, or '=' before the end
    acc = (acc << 6) | d;
    if (i % 4 == 3) {
      out.push_back(static_cast<char>((acc >> 16) & 0xFF));
      out.push_back(static_cast<char>((acc >> 8) & 0xFF));
      out.push_back(static_cast<char>(acc & 0xFF));
      acc = 0;
    }
  }
  // The last group: 4 - pad alphabet characters already accumulated in `acc`.
  if (pad == 1) {
    // 3 characters = 18 bits = 2 bytes + 2 pad bits.
    if ((acc & 0x3) != 0) return std::nullopt;
    out.push_back(static_cast<char>((acc >> 10) & 0xFF));
    out.push_back(static_cast<char>((acc >> 2) & 0xFF));
  } else if (pad == 2) {
    // 2 characters = 12 bits = 1 byte + 4 pad bits.
    if ((acc & 0xF) != 0) return std::nullopt;
    out.push_back(static_cast<char>((acc >> 4) & 0xFF));
  }
  return out;
}

}  // namespace shicks
