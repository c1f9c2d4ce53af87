#pragma once
// RFC 4648 base64 (standard alphabet, padded). Decoding is strict: no whitespace,
// correct padding, no trailing garbage (SASL, RFC 4954 4).
#include <optional>
#include <string>
#include <string_view>

namespace shicks {

std::string base64_encode(std::string_view bytes);
std::optional<std::string> base64_decode(std::string_view text);

}  // namespace shicks
