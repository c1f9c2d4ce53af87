#include <catch2/catch.hpp>

#include "server/store/migrations.hpp"

using namespace shicks::store;

TEST_CASE("the embedded migrations run 1, 2, 3... in file order") {
  const auto& list = embedded_migrations();
  REQUIRE_FALSE(list.empty());
  CHECK(check_sequence(list).empty());
  CHECK(std::string(list.front().name) == "0001_init.sql");
  for (const auto& m : list) {
    INFO(m.name);
    CHECK_FALSE(split_statements(m.text).empty());
  }
}

TEST_CASE("check_sequence rejects gaps, repeats and a wrong start") {
  std::vector<Migration> gap = {{1, "0001_a.sql", ""}, {3, "0003_c.sql", ""}};
  CHECK(check_sequence(gap) == "migration 0003_c.sql has version 3, expected 2");
  std::vector<Migration> repeat = {{1, "0001_a.sql", ""}, {1, "0001_b.sql", ""}};
  CHECK_FALSE(check_sequence(repeat).empty());
  std::vector<Migration> start = {{2, "0002_a.sql", ""}};
  CHECK_FALSE(check_sequence(start).empty());
  CHECK(check_sequence({}).empty());
}

TEST_CASE("statements split on semicolons outside quotes and comments") {
  auto s = split_statements(
      "-- a comment; with a semicolon\n"
      "CREATE TABLE a (x INT); -- trailing comment\n"
      "INSERT INTO a VALUES ('it''s; fine');\n"
      "INSERT INTO a VALUES (\"semi;colon\"), ('back\\'slash;');\n"
      "  ;  \n"
      "SELECT 1");
  REQUIRE(s.size() == 4);
  CHECK(s[0] == "CREATE TABLE a (x INT)");
  CHECK(s[1] == "INSERT INTO a VALUES ('it''s; fine')");
  CHECK(s[2] == "INSERT INTO a VALUES (\"semi;colon\"), ('back\\'slash;')");
  CHECK(s[3] == "SELECT 1");
}
