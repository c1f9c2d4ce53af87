#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "server/daemon/control_args.hpp"

using namespace shicks::daemon;
using nlohmann::json;

namespace {
json parse(const char* text) { return json::parse(text); }
}  // namespace

TEST_CASE("control args: unknown names are reported before the rules, the rules in their order") {
  ArgRules rules = {text("name"), text("password")};
  CHECK(check_args("user.passwd", rules, parse(R"({"zz":1})")) == "user.passwd takes no argument \"zz\"");
  CHECK(check_args("user.passwd", rules, parse(R"({"name":1,"zz":1})")) == "user.passwd takes no argument \"zz\"");
  CHECK(check_args("user.passwd", rules, parse(R"({})")) == "missing argument \"name\"");
  CHECK(check_args("user.passwd", rules, parse(R"({"password":"p"})")) == "missing argument \"name\"");
  CHECK(check_args("user.passwd", rules, parse(R"({"name":"a"})")) == "missing argument \"password\"");
  CHECK(check_args("user.passwd", rules, parse(R"({"name":2,"password":3})")) ==
        "argument \"name\" must be a string");
  CHECK_FALSE(check_args("user.passwd", rules, parse(R"({"name":"a","password":"p"})")).has_value());
}

TEST_CASE("control args: null is absent for text and lists, the wrong type for numbers") {
  ArgRules rules = {opt_text("user"), opt_text_list("addresses"), opt_whole_number("since_seq"),
                    opt_number("interval_seconds", 0.1, 3600)};
  CHECK_FALSE(check_args("c", rules, parse(R"({"user":null,"addresses":null})")).has_value());
  CHECK(check_args("c", rules, parse(R"({"since_seq":null})")) == "argument \"since_seq\" must be a whole number");
  CHECK(check_args("c", rules, parse(R"({"interval_seconds":null})")) ==
        "argument \"interval_seconds\" must be a number");
  CHECK(check_args("c", {text("name")}, parse(R"({"name":null})")) == "missing argument \"name\"");
}

TEST_CASE("control args: lists hold strings, a required one is not empty, an optional one may be") {
  CHECK(check_args("c", {text_list("users")}, parse(R"({"users":[]})")) == "argument \"users\" must not be empty");
  CHECK_FALSE(check_args("c", {opt_text_list("users")}, parse(R"({"users":[]})")).has_value());
  CHECK(check_args("c", {text_list("users")}, parse(R"({"users":["a",null]})")) ==
        "argument \"users\" must be a list of strings");
  CHECK(check_args("c", {text_list("users")}, parse(R"({"users":"a"})")) ==
        "argument \"users\" must be a list of strings");
}

TEST_CASE("control args: whole numbers and ranges") {
  CHECK_FALSE(check_args("c", {whole_number("id")}, parse(R"({"id":0})")).has_value());
  CHECK_FALSE(check_args("c", {whole_number("id")}, parse(R"({"id":18446744073709551615})")).has_value());
  CHECK(check_args("c", {whole_number("id")}, parse(R"({"id":-3})")) == "argument \"id\" must be a whole number");
  CHECK(check_args("c", {whole_number("id")}, parse(R"({"id":2.0})")) == "argument \"id\" must be a whole number");
  ArgRules interval = {opt_number("interval_seconds", 0.1, 3600)};
  CHECK_FALSE(check_args("watch", interval, parse(R"({"interval_seconds":1})")).has_value());
  CHECK(check_args("watch", interval, parse(R"({"interval_seconds":3601})")) ==
        "argument \"interval_seconds\" must be from 0.1 to 3600");
}

TEST_CASE("control args: others_ignored lets any other name through, still checking the listed ones") {
  CHECK_FALSE(check_args("ping", {others_ignored()}, parse(R"({"pad":"xxxx","n":1})")).has_value());
  CHECK(check_args("c", {others_ignored(), text("name")}, parse(R"({"pad":1})")) == "missing argument \"name\"");
  CHECK(check_args("c", {}, parse(R"({"pad":1})")) == "c takes no argument \"pad\"");
}

TEST_CASE("control args: the accessors read what passed the check") {
  json j = parse(R"({"name":"alice","users":["a","b"],"id":12,"interval_seconds":0.5})");
  Args a(j);
  CHECK(a.text("name") == "alice");
  CHECK(a.opt_text("name") == "alice");
  CHECK_FALSE(a.opt_text("password").has_value());
  CHECK(a.list("users") == std::vector<std::string>{"a", "b"});
  CHECK(a.list("addresses").empty());
  CHECK(a.whole("id") == 12);
  CHECK_FALSE(a.opt_whole("since_seq").has_value());
  CHECK(a.number("interval_seconds", 1.0) == 0.5);
  CHECK(a.number("other", 1.0) == 1.0);
}
