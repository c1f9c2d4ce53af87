#include <catch2/catch.hpp>

#include "control/client.hpp"

using shicks::control::control_socket_from_toml;

TEST_CASE("control socket: the light read finds server.control_socket only") {
  auto r = control_socket_from_toml("# shicks.toml\n[server]\nhostname = \"x\"\ncontrol_socket = \"run/c.sock\" # ours\n"
                                    "[smtp]\ncontrol_socket = \"other\"\n",
                                    "f.toml");
  REQUIRE(r);
  CHECK(r->value() == "run/c.sock");
  // Literal strings, escapes; a broken key elsewhere is not looked at.
  r = control_socket_from_toml("[smtp]\nlisten = [oops\n[ server ]\ncontrol_socket='/tmp/a\\b'\n", "f.toml");
  REQUIRE(r);
  CHECK(r->value() == "/tmp/a\\b");
  r = control_socket_from_toml("[server]\ncontrol_socket = \"/tmp/q\\\"x\"\n", "f.toml");
  REQUIRE(r);
  CHECK(r->value() == "/tmp/q\"x");
}

TEST_CASE("control socket: not set, or not a path") {
  auto r = control_socket_from_toml("[server]\nhostname = \"x\"\n", "f.toml");
  REQUIRE(r);
  CHECK_FALSE(r->has_value());
  r = control_socket_from_toml("[server]\n\ncontrol_socket = 5\n", "f.toml");
  REQUIRE_FALSE(r);
  CHECK(r.error() == "f.toml:3: server.control_socket: expected a quoted path");
  r = control_socket_from_toml("[server]\ncontrol_socket = \"\"\n", "f.toml");
  REQUIRE_FALSE(r);
  CHECK(r.error() == "f.toml:2: server.control_socket: must not be empty");
  r = control_socket_from_toml("[server]\ncontrol_socket = \"unterminated\n", "f.toml");
  REQUIRE_FALSE(r);
}
