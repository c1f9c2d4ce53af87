#pragma once
// Text for people: what shicksctl, shicks-top and the daemon's listings print.
// Pure code, unit-tested.
#include <cstdint>
#include <string>
#include <string_view>

namespace shicks {

// Text from the daemon may hold anything a mail carried (a Subject with escape
// sequences): control characters become '?' and invalid UTF-8 bytes become '?', so
// nothing printed can drive the terminal.
std::string printable(std::string_view s);
// Width on a terminal, counted in code points (good enough for the text we print).
std::size_t display_width(std::string_view s);
// At most `width` columns; a cut ends in "...".
std::string shorten(std::string_view s, std::size_t width);

// "2026-11-24T06:10:00Z" -> "2026-11-24 06:10:00"; "" and null-ish stay "-".
std::string when(std::string_view iso);
// "12.3 KiB"
std::string human_size(std::uint64_t bytes);
// "3d 4h 5m 6s"
std::string duration(std::uint64_t seconds);

}  // namespace shicks
