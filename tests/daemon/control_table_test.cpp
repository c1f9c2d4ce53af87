// The control dispatch table against the documented commands (man/shicksctl.8,
// src/ctl/commands.cpp): every row's name, whether it is logged as a change, how it
// runs, and its arguments: a missing, unknown or wrongly typed argument gives the
// documented refusal before the handler runs (dispatch() calls the same check_args).
#include <catch2/catch.hpp>

#include <map>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "server/daemon/control_dispatch.hpp"

using namespace shicks::daemon;
using nlohmann::json;

namespace {

// An argument as documented: its name, its type, whether it is required.
struct Arg {
  std::string name;
  ArgType type;
  bool required;
};

struct Documented {
  bool mutating;
  Kind kind;
  std::vector<Arg> args;
  bool others_ignored = false;  // ping, status, reload answer whatever they are sent
};

constexpr auto T = ArgType::text;
constexpr auto L = ArgType::text_list;
constexpr auto W = ArgType::whole_number;
constexpr auto N = ArgType::number;

const std::map<std::string, Documented>& documented() {
  static const std::map<std::string, Documented> d = {
      {"ping", {false, Kind::local, {}, true}},
      {"status", {false, Kind::async, {}, true}},
      {"watch", {false, Kind::stream, {{"interval_seconds", N, false}, {"since_seq", W, false}}}},
      {"reload", {true, Kind::local, {}, true}},
      {"user.add", {true, Kind::db, {{"name", T, true}, {"password", T, true}, {"addresses", L, false}}}},
      {"user.del", {true, Kind::db, {{"name", T, true}}}},
      {"user.list", {false, Kind::db, {}}},
      {"user.show", {false, Kind::db, {{"name", T, true}}}},
      {"user.passwd", {true, Kind::db, {{"name", T, true}, {"password", T, true}}}},
      {"user.enable", {true, Kind::db, {{"name", T, true}}}},
      {"user.disable", {true, Kind::db, {{"name", T, true}}}},
      {"address.add", {true, Kind::db, {{"address", T, true}, {"users", L, true}}}},
      {"address.del", {true, Kind::db, {{"address", T, true}}}},
      {"address.list", {false, Kind::db, {{"user", T, false}}}},
      {"mailbox.list", {false, Kind::db, {{"user", T, true}}}},
      {"mailbox.purge", {true, Kind::db, {{"user", T, true}}}},
      {"relay.show", {false, Kind::db, {}}},
      {"relay.set",
       {true, Kind::db,
        {{"host", T, true}, {"port", T, false}, {"tls", T, false}, {"username", T, false}, {"password", T, false},
         {"allow_plaintext_auth", T, false}}}},
      {"relay.clear", {true, Kind::db, {}}},
      {"relay.test", {true, Kind::async, {}}},
      {"spam.add", {true, Kind::db, {{"keywords", L, true}}}},
      {"spam.del", {true, Kind::db, {{"keywords", L, true}}}},
      {"spam.list", {false, Kind::db, {}}},
      {"spam.import", {true, Kind::db, {{"keywords", L, true}}}},
      {"spam.test", {false, Kind::db, {{"subject", T, true}}}},
      {"queue.list", {false, Kind::db, {}}},
      {"queue.show", {false, Kind::db, {{"id", W, true}}}},
      {"queue.flush", {true, Kind::db, {}}},
      {"queue.del", {true, Kind::db, {{"id", W, true}}}},
      {"session.list", {false, Kind::local, {}}},
      {"session.kill", {true, Kind::local, {{"id", T, true}}}},
      {"auth.bans", {false, Kind::local, {}}},
      {"auth.unban", {true, Kind::local, {{"ip", T, true}}}},
      {"config.list", {false, Kind::db, {}}},
      {"config.get", {false, Kind::db, {{"key", T, true}}}},
      {"config.set", {true, Kind::db, {{"key", T, true}, {"value", T, true}}}},
  };
  return d;
}

json good_value(ArgType t) {
  switch (t) {
    case ArgType::text: return "x";
    case ArgType::text_list: return json::array({"a", "b"});
    case ArgType::whole_number: return std::uint64_t(7);  // as a request's 7 parses
    case ArgType::number: return 2.5;
    case ArgType::others_ignored: break;
  }
  return nullptr;
}

// Wrong values and the refusal each gets.
std::vector<std::pair<json, std::string>> wrong_values(const Arg& a) {
  std::string q = "argument \"" + a.name + "\" must ";
  switch (a.type) {
    case ArgType::text: return {{42, q + "be a string"}, {json::array({"x"}), q + "be a string"}, {true, q + "be a string"}};
    case ArgType::text_list: {
      std::vector<std::pair<json, std::string>> v = {{"a", q + "be a list of strings"},
                                                     {json::array({"a", 1}), q + "be a list of strings"},
                                                     {json::object(), q + "be a list of strings"}};
      if (a.required) v.emplace_back(json::array(), q + "not be empty");
      return v;
    }
    case ArgType::whole_number:
      return {{-1, q + "be a whole number"}, {"7", q + "be a whole number"}, {1.5, q + "be a whole number"},
              {nullptr, q + "be a whole number"}};
    case ArgType::number: return {{"1", q + "be a number"}, {nullptr, q + "be a number"}};
    case ArgType::others_ignored: break;
  }
  return {};
}

json all_good(const Documented& d, bool optional_too) {
  json j = json::object();
  for (const auto& a : d.args)
    if (a.required || optional_too) j[a.name] = good_value(a.type);
  return j;
}

}  // namespace

TEST_CASE("control table: one row per documented command") {
  std::set<std::string> names;
  for (const auto& row : control_commands()) {
    INFO(row.name);
    CHECK(names.insert(row.name).second);  // no command twice
    CHECK(documented().count(row.name) == 1);
    CHECK(find_command(row.name) == &row);
  }
  CHECK(names.size() == documented().size());
  CHECK(find_command("no.such") == nullptr);
}

TEST_CASE("control table: each row is logged as a change or not, and runs, as documented") {
  for (const auto& row : control_commands()) {
    INFO(row.name);
    const auto& d = documented().at(row.name);
    CHECK(row.mutating == d.mutating);
    CHECK(row.kind() == d.kind);
  }
}

TEST_CASE("control table: each row's rules are the documented arguments") {
  for (const auto& row : control_commands()) {
    INFO(row.name);
    const auto& d = documented().at(row.name);
    std::vector<Arg> rules;
    bool others = false;
    for (const auto& r : row.args) {
      if (r.type == ArgType::others_ignored) others = true;
      else rules.push_back({r.name, r.type, r.required});
    }
    CHECK(others == d.others_ignored);
    REQUIRE(rules.size() == d.args.size());
    for (std::size_t i = 0; i < rules.size(); ++i) {
      INFO(d.args[i].name);
      CHECK(rules[i].name == d.args[i].name);
      CHECK(rules[i].type == d.args[i].type);
      CHECK(rules[i].required == d.args[i].required);
    }
  }
}

TEST_CASE("control table: every row accepts its arguments and refuses missing, extra and wrong ones") {
  for (const auto& row : control_commands()) {
    const std::string cmd = row.name;
    INFO(cmd);
    const auto& d = documented().at(cmd);

    // The required ones alone, and everything.
    CHECK_FALSE(check_args(cmd, row.args, all_good(d, false)).has_value());
    CHECK_FALSE(check_args(cmd, row.args, all_good(d, true)).has_value());

    // An argument the command does not take.
    json extra = all_good(d, true);
    extra["bogus"] = "x";
    if (d.others_ignored) CHECK_FALSE(check_args(cmd, row.args, extra).has_value());
    else CHECK(check_args(cmd, row.args, extra) == cmd + " takes no argument \"bogus\"");

    for (const auto& a : d.args) {
      INFO(a.name);
      // Missing (absent, or null for text and lists).
      json missing = all_good(d, true);
      missing.erase(a.name);
      auto absent = check_args(cmd, row.args, missing);
      if (a.required) CHECK(absent == "missing argument \"" + a.name + "\"");
      else CHECK_FALSE(absent.has_value());
      if (a.type == ArgType::text || a.type == ArgType::text_list) {
        missing[a.name] = nullptr;
        CHECK(check_args(cmd, row.args, missing) == absent);
      }
      // The wrong type.
      for (const auto& [value, error] : wrong_values(a)) {
        INFO(value.dump());
        json wrong = all_good(d, true);
        wrong[a.name] = value;
        CHECK(check_args(cmd, row.args, wrong) == error);
      }
    }
  }
}

TEST_CASE("control table: watch's interval is from 0.1 to 3600 seconds") {
  const Command* watch = find_command("watch");
  REQUIRE(watch);
  for (double ok : {0.1, 1.0, 3600.0})
    CHECK_FALSE(check_args("watch", watch->args, json{{"interval_seconds", ok}}).has_value());
  for (double bad : {0.05, 0.0, -1.0, 3600.5})
    CHECK(check_args("watch", watch->args, json{{"interval_seconds", bad}}) ==
          "argument \"interval_seconds\" must be from 0.1 to 3600");
  CHECK_FALSE(check_args("watch", watch->args, json{{"since_seq", std::uint64_t(0)}}).has_value());
}
