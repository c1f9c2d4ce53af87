#include "server/daemon/control_args.hpp"

#include <fmt/core.h>
#include <nlohmann/json.hpp>

namespace shicks::daemon {
using nlohmann::json;

namespace {

bool is_text_list(const json& v) {
  if (!v.is_array()) return false;
  for (const auto& e : v)
    if (!e.is_string()) return false;
  return true;
}

std::optional<std::string> check_rule(const ArgRule& r, const json& args) {
  auto it = args.find(r.name);
  bool absent = it == args.end();
  // A null text or list is taken as not given; a null number is the wrong type.
  if (!absent && it->is_null() && (r.type == ArgType::text || r.type == ArgType::text_list)) absent = true;
  if (absent) {
    if (r.required) return fmt::format("missing argument \"{}\"", r.name);
    return std::nullopt;
  }
  const json& v = *it;
  switch (r.type) {
    case ArgType::others_ignored: break;
    case ArgType::text:
      if (!v.is_string()) return fmt::format("argument \"{}\" must be a string", r.name);
      break;
    case ArgType::text_list:
      if (!is_text_list(v)) return fmt::format("argument \"{}\" must be a list of strings", r.name);
      if (r.required && v.empty()) return fmt::format("argument \"{}\" must not be empty", r.name);
      break;
    case ArgType::whole_number:
      if (!v.is_number_unsigned()) return fmt::format("argument \"{}\" must be a whole number", r.name);
      break;
    case ArgType::number: {
      if (!v.is_number()) return fmt::format("argument \"{}\" must be a number", r.name);
      double d = v.get<double>();
      if (!(d >= r.min && d <= r.max)) return fmt::format("argument \"{}\" must be from {} to {}", r.name, r.min, r.max);
      break;
    }
  }
  return std::nullopt;
}

}  // namespace

std::optional<std::string> check_args(std::string_view cmd, ArgRules rules, const json& args) {
  if (!args.is_object()) return std::string("the arguments must be a JSON object");
  bool others_ignored = false;
  for (const auto& r : rules) others_ignored = others_ignored || r.type == ArgType::others_ignored;
  for (const auto& [key, value] : args.items()) {
    bool known = others_ignored;
    for (const auto& r : rules) known = known || (r.type != ArgType::others_ignored && key == r.name);
    if (!known) return fmt::format("{} takes no argument \"{}\"", cmd, key);
  }
  for (const auto& r : rules)
    if (r.type != ArgType::others_ignored)
      if (auto error = check_rule(r, args)) return error;
  return std::nullopt;
}

std::string Args::text(const char* key) const { return opt_text(key).value_or(std::string()); }

std::optional<std::string> Args::opt_text(const char* key) const {
  auto it = j_.find(key);
  if (it == j_.end() || !it->is_string()) return std::nullopt;
  return it->get<std::string>();
}

std::vector<std::string> Args::list(const char* key) const {
  std::vector<std::string> out;
  auto it = j_.find(key);
  if (it == j_.end() || !it->is_array()) return out;
  for (const auto& e : *it)
    if (e.is_string()) out.push_back(e.get<std::string>());
  return out;
}

std::uint64_t Args::whole(const char* key) const { return opt_whole(key).value_or(0); }

std::optional<std::uint64_t> Args::opt_whole(const char* key) const {
  auto it = j_.find(key);
  if (it == j_.end() || !it->is_number_unsigned()) return std::nullopt;
  return it->get<std::uint64_t>();
}

double Args::number(const char* key, double fallback) const {
  auto it = j_.find(key);
  if (it == j_.end() || !it->is_number()) return fallback;
  return it->get<double>();
}

}  // namespace shicks::daemon
