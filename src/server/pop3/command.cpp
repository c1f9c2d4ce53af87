#include "server/pop3/command.hpp"

#include <array>
#include <utility>

#include "common/strings.hpp"

namespace shicks::pop3 {

namespace {
constexpr std::array<std::pair<std::string_view, Verb>, 15> kVerbs = {{
    {"user", Verb::user}, {"pass", Verb::pass}, {"apop", Verb::apop}, {"auth", Verb::auth},
    {"capa", Verb::capa}, {"stls", Verb::stls}, {"quit", Verb::quit}, {"stat", Verb::stat},
    {"list", Verb::list}, {"retr", Verb::retr}, {"dele", Verb::dele}, {"noop", Verb::noop},
    {"rset", Verb::rset}, {"top", Verb::top},   {"uidl", Verb::uidl},
}};

bool is_control(char c) {
  auto u = static_cast<unsigned char>(c);
  return u < 0x20 || u == 0x7f;
}
}  // namespace

Expected<Command, CommandError> parse_command(std::string_view line) {
  if (line.empty()) return unexpected(CommandError::empty);
  for (char c : line)
    if (is_control(c)) return unexpected(CommandError::bad_character);
  Command cmd;
  auto space = line.find(' ');
  std::string_view keyword = line.substr(0, space);
  for (const auto& [name, verb] : kVerbs)
    if (iequals_ascii(keyword, name)) cmd.verb = verb;
  if (space == std::string_view::npos) return cmd;
  cmd.rest = std::string(line.substr(space + 1));
  for (auto piece : split(cmd.rest, ' '))
    if (!piece.empty()) cmd.args.emplace_back(piece);
  return cmd;
}

}  // namespace shicks::pop3
