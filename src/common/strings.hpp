#pragma once
// ASCII helpers for protocol code: locale-independent on purpose.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace shicks {

constexpr char ascii_lower(char c) { return (c >= 'A' && c <= 'Z') ? char(c - 'A' + 'a') : c; }
constexpr char ascii_upper(char c) { return (c >= 'a' && c <= 'z') ? char(c - 'a' + 'A') : c; }
constexpr bool is_ascii_digit(char c) { return c >= '0' && c <= '9'; }
constexpr bool is_ascii_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

std::string to_lower_ascii(std::string_view s);
bool iequals_ascii(std::string_view a, std::string_view b);
bool istarts_with_ascii(std::string_view s, std::string_view prefix);
std::string_view trim(std::string_view s);
std::vector<std::string_view> split(std::string_view s, char sep);

// Parses a whole decimal number; nullopt on anything else (sign, blanks, overflow).
std::optional<std::uint64_t> parse_u64(std::string_view s);

// "1.5 MiB"-style rendering for people.
std::string human_bytes(std::uint64_t n);

}  // namespace shicks
