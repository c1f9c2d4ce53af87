#pragma once
// UTF-8 (RFC 3629) decoding and encoding for the spam filter. Strict: overlong forms,
// surrogates and code points above U+10FFFF are invalid. Pure code.
#include <cstddef>
#include <string>
#include <string_view>

namespace shicks::spam {

inline constexpr char32_t kReplacementChar = 0xFFFD;
inline constexpr char32_t kInvalidCodePoint = 0xFFFFFFFF;

// Decodes the code point that starts at s[pos]. On success returns it and sets `len`
// to its length in bytes (1-4); on an invalid or truncated sequence returns
// kInvalidCodePoint and sets `len` to 1 (the caller decides what the byte means).
char32_t decode_utf8(std::string_view s, std::size_t pos, std::size_t& len);

// Appends cp as UTF-8; a surrogate or a value above U+10FFFF appends U+FFFD.
void append_utf8(std::string& out, char32_t cp);

bool is_valid_utf8(std::string_view s);

}  // namespace shicks::spam
