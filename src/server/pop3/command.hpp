#pragma once
// POP3 command lines (RFC 1939 3, RFC 2449, RFC 2595, RFC 5034), parsed without
// I/O. A command is a case-insensitive keyword, optionally followed by arguments
// separated by spaces. The parser only splits and classifies; which arguments a verb
// takes, and whether it is allowed now, is decided by the Protocol.
#include <string>
#include <string_view>
#include <vector>

#include "common/expected.hpp"

namespace shicks::pop3 {

enum class Verb {
  user, pass, apop, auth, capa, stls, quit,               // AUTHORIZATION
  stat, list, retr, dele, noop, rset, top, uidl,          // TRANSACTION
  unknown,
};

struct Command {
  Verb verb = Verb::unknown;
  // Everything after the keyword and its single separating space, verbatim: PASS
  // takes it whole (RFC 1939 7: a password may contain spaces).
  std::string rest;
  // `rest` split at spaces, empty pieces dropped (so a trailing blank is tolerated).
  std::vector<std::string> args;
};

enum class CommandError {
  empty,          // an empty line
  bad_character,  // NUL, another control byte or DEL in the line
};

Expected<Command, CommandError> parse_command(std::string_view line);

}  // namespace shicks::pop3
