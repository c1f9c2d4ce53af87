#include <catch2/catch.hpp>

#include "common/netaddr.hpp"

using shicks::IpAddress;
using shicks::ListenAddress;
using shicks::Network;

TEST_CASE("listen addresses parse in both families and print back the same") {
  struct Case {
    const char* in;
    bool ok;
    const char* out;
  };
  const Case cases[] = {
      {"127.0.0.1:2525", true, "127.0.0.1:2525"},
      {"0.0.0.0:25", true, "0.0.0.0:25"},
      {"[::1]:110", true, "[::1]:110"},
      {"[::]:995", true, "[::]:995"},
      {"[2001:db8::1]:587", true, "[2001:db8::1]:587"},
      {"127.0.0.1", false, ""},
      {"127.0.0.1:", false, ""},
      {"127.0.0.1:0", false, ""},
      {"127.0.0.1:65536", false, ""},
      {"127.0.0.1:-1", false, ""},
      {"127.0.0.1: 25", false, ""},
      {"::1:25", false, ""},  // IPv6 needs brackets
      {"[127.0.0.1]:25", false, ""},
      {"[::1:25", false, ""},
      {"localhost:25", false, ""},
      {"256.0.0.1:25", false, ""},
      {"", false, ""},
  };
  for (const auto& c : cases) {
    INFO(c.in);
    auto a = ListenAddress::parse(c.in);
    REQUIRE(a.has_value() == c.ok);
    if (c.ok) CHECK(a->to_string() == c.out);
  }
}

TEST_CASE("networks contain exactly their addresses") {
  auto lo = Network::parse("127.0.0.0/8");
  REQUIRE(lo);
  CHECK(lo->contains(*IpAddress::parse("127.0.0.1")));
  CHECK(lo->contains(*IpAddress::parse("127.255.255.255")));
  CHECK_FALSE(lo->contains(*IpAddress::parse("128.0.0.1")));
  CHECK_FALSE(lo->contains(*IpAddress::parse("::1")));
  // IPv4-mapped IPv6 peers (a dual-stack socket) count as their IPv4 address.
  CHECK(lo->contains(*IpAddress::parse("::ffff:127.0.0.9")));

  auto v6 = Network::parse("2001:db8::/32");
  REQUIRE(v6);
  CHECK(v6->contains(*IpAddress::parse("2001:db8:ffff::1")));
  CHECK_FALSE(v6->contains(*IpAddress::parse("2001:db9::1")));

  auto odd = Network::parse("10.1.2.3/12");  // host bits are cleared
  REQUIRE(odd);
  CHECK(odd->to_string() == "10.0.0.0/12");
  CHECK(odd->contains(*IpAddress::parse("10.15.0.1")));
  CHECK_FALSE(odd->contains(*IpAddress::parse("10.16.0.1")));

  auto host = Network::parse("192.0.2.7");
  REQUIRE(host);
  CHECK(host->prefix == 32);
  CHECK(Network::parse("0.0.0.0/0")->contains(*IpAddress::parse("203.0.113.5")));

  for (const char* bad : {"10.0.0.0/33", "::/129", "10.0.0.0/", "10.0.0.0/x", "/8", "nonsense", "10.0.0.0/-1"}) {
    INFO(bad);
    CHECK_FALSE(Network::parse(bad));
  }
}

TEST_CASE("loopback detection") {
  CHECK(IpAddress::parse("127.0.0.1")->is_loopback());
  CHECK(IpAddress::parse("127.1.2.3")->is_loopback());
  CHECK(IpAddress::parse("::1")->is_loopback());
  CHECK(IpAddress::parse("::ffff:127.0.0.1")->is_loopback());
  CHECK_FALSE(IpAddress::parse("::2")->is_loopback());
  CHECK_FALSE(IpAddress::parse("10.0.0.1")->is_loopback());
}
