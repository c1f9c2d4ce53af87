#pragma once
// Reading passwords for shicksctl: never from the command line.
//   - on a terminal: prompted without echo (twice for a new password, which must match);
//   - otherwise, or with --password-stdin: one line from standard input, without its
//     line end.
#include <string>

#include "common/expected.hpp"

namespace shicks::ctl {

// A new password for `whose` (e.g. "user alice"). With `from_stdin`, or when stdin
// is not a terminal, one line of stdin; else two prompts on the terminal.
Expected<std::string, std::string> read_new_password(bool from_stdin, const std::string& whose);

// One secret line: without echo when stdin is a terminal (one prompt), else one
// line of stdin.
Expected<std::string, std::string> read_secret_line(const std::string& prompt);

}  // namespace shicks::ctl
