#pragma once
// The arguments of a control request, checked before its handler runs. Every row of
// the dispatch table (control_dispatch.cpp) lists its arguments as ArgRules; a
// request with a missing, unknown or wrongly typed argument is answered with one of
// the messages below and never reaches the handler. Pure code (no ASIO, no MySQL).
//
//   missing argument "name"                      a required argument is absent (or null)
//   user.add takes no argument "x"               an argument the command does not know
//   argument "name" must be a string             text
//   argument "users" must be a list of strings   text_list
//   argument "users" must not be empty           a required text_list given as []
//   argument "id" must be a whole number         whole_number (null included)
//   argument "interval_seconds" must be a number number (null included)
//   argument "interval_seconds" must be from 0.1 to 3600   number out of its range
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace shicks::daemon {

enum class ArgType {
  text,
  text_list,
  whole_number,
  number,
  others_ignored,  // not an argument: any name the other rules do not list is let through
};

struct ArgRule {
  const char* name;
  ArgType type;
  bool required;
  double min = 0, max = 0;  // number only: the accepted range
};

constexpr ArgRule text(const char* name) { return {name, ArgType::text, true}; }
constexpr ArgRule opt_text(const char* name) { return {name, ArgType::text, false}; }
constexpr ArgRule text_list(const char* name) { return {name, ArgType::text_list, true}; }
constexpr ArgRule opt_text_list(const char* name) { return {name, ArgType::text_list, false}; }
constexpr ArgRule whole_number(const char* name) { return {name, ArgType::whole_number, true}; }
constexpr ArgRule opt_whole_number(const char* name) { return {name, ArgType::whole_number, false}; }
constexpr ArgRule opt_number(const char* name, double min, double max) {
  return {name, ArgType::number, false, min, max};
}
// ping, status and reload have always answered whatever arguments came with them.
constexpr ArgRule others_ignored() { return {"*", ArgType::others_ignored, false}; }

using ArgRules = std::initializer_list<ArgRule>;

// The refusal for `args` (a JSON object) of command `cmd`, or nothing when they fit
// `rules`. Unknown names are reported first, then the rules in their order.
std::optional<std::string> check_args(std::string_view cmd, ArgRules rules, const nlohmann::json& args);

// Read access to arguments that passed check_args (so no accessor fails).
class Args {
 public:
  explicit Args(const nlohmann::json& j) : j_(j) {}
  std::string text(const char* key) const;
  std::optional<std::string> opt_text(const char* key) const;
  std::vector<std::string> list(const char* key) const;  // absent: empty
  std::uint64_t whole(const char* key) const;
  std::optional<std::uint64_t> opt_whole(const char* key) const;
  double number(const char* key, double fallback) const;

 private:
  const nlohmann::json& j_;
};

}  // namespace shicks::daemon
