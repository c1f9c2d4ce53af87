#include "server/net/connection_caps.hpp"

#include <optional>
#include <stdexcept>
#include <vector>

#include <catch2/catch.hpp>

using shicks::net::ConnectionCaps;
using Refusal = ConnectionCaps::Refusal;

TEST_CASE("connection caps: the total cap holds over every kind", "[net]") {
  auto caps = ConnectionCaps::make(3, {10, 10});
  std::vector<ConnectionCaps::Slot> held;
  held.push_back(caps->acquire(0));
  held.push_back(caps->acquire(1));
  held.push_back(caps->acquire(0));
  for (const auto& s : held) CHECK(s);
  auto refused = caps->acquire(1);
  CHECK_FALSE(refused);
  CHECK(refused.refusal() == Refusal::total);
  CHECK(caps->open() == 3);
  CHECK(caps->open(0) == 2);
  CHECK(caps->open(1) == 1);
}

TEST_CASE("connection caps: a kind's cap holds while the total has room", "[net]") {
  auto caps = ConnectionCaps::make(10, {2, 1});
  auto a = caps->acquire(0), b = caps->acquire(0);
  auto c = caps->acquire(0);
  CHECK_FALSE(c);
  CHECK(c.refusal() == Refusal::kind);
  auto p = caps->acquire(1);
  CHECK(p);
  CHECK(p.refusal() == Refusal::none);
  CHECK(caps->acquire(1).refusal() == Refusal::kind);
}

TEST_CASE("connection caps: a slot gives its place back however it ends", "[net]") {
  auto caps = ConnectionCaps::make(1, {1});
  {
    auto s = caps->acquire(0);
    REQUIRE(s);
    CHECK_FALSE(caps->acquire(0));
  }
  CHECK(caps->open() == 0);
  try {
    auto s = caps->acquire(0);
    REQUIRE(s);
    throw std::runtime_error("the session failed");
  } catch (const std::runtime_error&) {
  }
  CHECK(caps->open() == 0);
  // Moved: counted once, given back once.
  std::optional<ConnectionCaps::Slot> moved;
  {
    auto s = caps->acquire(0);
    moved.emplace(std::move(s));
    CHECK_FALSE(s);
  }
  CHECK(caps->open() == 1);
  moved->release();
  moved->release();
  CHECK(caps->open() == 0);
  moved.reset();
  CHECK(caps->open() == 0);
  CHECK(caps->acquire(0));
}

TEST_CASE("connection caps: a slot outlives the owner's pointer", "[net]") {
  auto caps = ConnectionCaps::make(2, {2});
  auto s = caps->acquire(0);
  std::weak_ptr<ConnectionCaps> weak = caps;
  caps.reset();
  CHECK_FALSE(weak.expired());  // the slot keeps the counts alive
  s.release();
  CHECK(weak.expired());
}

TEST_CASE("connection caps: stress is four fifths of a cap, rounded up", "[net]") {
  CHECK(ConnectionCaps::stress_level(1000) == 800);
  CHECK(ConnectionCaps::stress_level(800) == 640);
  CHECK(ConnectionCaps::stress_level(10) == 8);
  CHECK(ConnectionCaps::stress_level(9) == 8);
  CHECK(ConnectionCaps::stress_level(4) == 4);
  CHECK(ConnectionCaps::stress_level(1) == 1);
}

TEST_CASE("connection caps: the slot that reaches the total's stress level begins it", "[net]") {
  auto caps = ConnectionCaps::make(10, {100, 100});
  std::vector<ConnectionCaps::Slot> held;
  for (int i = 0; i < 7; ++i) {
    held.push_back(caps->acquire(i % 2));
    CHECK_FALSE(held.back().began_stress());
    CHECK_FALSE(held.back().stressed());
  }
  held.push_back(caps->acquire(0));
  CHECK(held.back().began_stress());
  for (const auto& s : held) CHECK(s.stressed());  // every kind: the total decides
  held.push_back(caps->acquire(1));
  CHECK_FALSE(held.back().began_stress());  // already under stress
  held.pop_back();
  held.pop_back();
  for (const auto& s : held) CHECK_FALSE(s.stressed());  // back below: over
  held.push_back(caps->acquire(1));
  CHECK(held.back().began_stress());  // and again
}

TEST_CASE("connection caps: a kind under stress stresses only its own slots", "[net]") {
  auto caps = ConnectionCaps::make(100, {5, 5});
  std::vector<ConnectionCaps::Slot> smtp;
  for (int i = 0; i < 3; ++i) smtp.push_back(caps->acquire(0));
  auto pop = caps->acquire(1);
  CHECK_FALSE(pop.stressed());
  smtp.push_back(caps->acquire(0));  // 4 of 5
  CHECK(smtp.back().began_stress());
  CHECK(smtp.front().stressed());
  CHECK_FALSE(pop.stressed());
  // A moved slot keeps what it said; an empty or refused one is never under stress.
  auto moved = std::move(smtp.back());
  CHECK(moved.began_stress());
  CHECK(moved.stressed());
  CHECK_FALSE(ConnectionCaps::Slot().stressed());
}
