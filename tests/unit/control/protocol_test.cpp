#include <catch2/catch.hpp>

#include "control/protocol.hpp"

using namespace shicks::control;

TEST_CASE("requests round-trip through the codec") {
  Request r;
  r.id = 42;
  r.cmd = "user add";
  r.args_json = R"({"emails":["a@example.org"],"name":"alice"})";  // canonical: keys sorted
  std::string line = encode_request(r);
  REQUIRE(line.back() == '\n');
  CHECK(std::count(line.begin(), line.end(), '\n') == 1);
  auto back = decode_request(line);
  REQUIRE(back);
  CHECK(back->id == 42);
  CHECK(back->cmd == "user add");
  CHECK(back->args_json == r.args_json);
}

TEST_CASE("responses round-trip, ok and error") {
  Response ok;
  ok.id = 7;
  ok.ok = true;
  ok.result_json = R"({"x":[1,2]})";
  auto a = decode_response(encode_response(ok));
  REQUIRE(a);
  CHECK(a->ok);
  CHECK(a->result_json == ok.result_json);

  auto b = decode_response(encode_error(8, "no such user \"bob\""));
  REQUIRE(b);
  CHECK_FALSE(b->ok);
  CHECK(b->id == 8);
  CHECK(b->error == "no such user \"bob\"");
}

TEST_CASE("malformed requests are errors, never exceptions") {
  const char* bad[] = {
      "",
      "not json",
      "[1,2,3]",
      "{\"cmd\":42}",
      "{\"args\":{}}",
      "{\"cmd\":\"\"}",
      "{\"cmd\":\"status\",\"args\":[]}",
      "{\"cmd\":\"status\",\"id\":\"x\"}",
      "{\"cmd\":\"status\",\"v\":2}",
      "{\"cmd\":\"status\"",
      "{\"cmd\":\"st\xff\xfe\"}",
      "\x00\x01\x02",
  };
  for (const char* b : bad) {
    INFO(b);
    CHECK_FALSE(decode_request(b));
  }
  auto v2 = decode_request("{\"cmd\":\"status\",\"v\":2}");
  CHECK(v2.error().find("unsupported protocol version 2") == 0);
}

TEST_CASE("a request without args or id is fine") {
  auto r = decode_request("{\"cmd\":\"status\"}\r\n");
  REQUIRE(r);
  CHECK(r->cmd == "status");
  CHECK(r->args_json == "{}");
  CHECK(r->id == 0);
}

TEST_CASE("invalid UTF-8 in an error message does not break the encoder") {
  auto line = encode_error(1, "bad \xff byte");
  auto r = decode_response(line);
  REQUIRE(r);
  CHECK_FALSE(r->ok);
}
