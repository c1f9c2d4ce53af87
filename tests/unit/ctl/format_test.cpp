#include <catch2/catch.hpp>

#include "ctl/format.hpp"
#include "server/spam/matcher.hpp"

using namespace shicks;
using namespace shicks::ctl;
using shicks::spam::keyword_lines;

TEST_CASE("table: columns aligned, numbers right, no trailing blanks") {
  Table t({{"NAME"}, {"SIZE", Table::right}, {"NOTE"}});
  t.add({"alice", "12", "x"});
  t.add({"bob", "1234", ""});
  CHECK(t.render() ==
        "NAME   SIZE  NOTE\n"
        "alice    12  x\n"
        "bob    1234\n");
}

TEST_CASE("table: widths count characters, not octets, long cells are cut") {
  Table t({{"K"}, {"V", Table::left, 8}});
  t.add({"jürgen", "a long subject line"});
  t.add({"x", "short"});
  CHECK(t.render() ==
        "K       V\n"
        "jürgen  a lon...\n"
        "x       short\n");
}

TEST_CASE("table: without a header, missing cells are empty") {
  Table t({{""}, {""}}, false);
  t.add({"a"});
  t.add({"bb", "c"});
  CHECK(t.render() == "a\nbb  c\n");
  CHECK(fields({{"host", "smart.example"}, {"verify certificate", "true"}}) ==
        "host:                smart.example\n"
        "verify certificate:  true\n");
}

TEST_CASE("printable: control characters and broken UTF-8 cannot reach the terminal") {
  CHECK(printable("plain ü") == "plain ü");
  CHECK(printable("\x1b[2Jboom") == "?[2Jboom");
  CHECK(printable("a\r\nb\tc") == "a??b?c");
  CHECK(printable("\xc2\x9b" "31m") == "?31m");  // C1 CSI
  CHECK(printable("\xff\xfe") == "??");
  CHECK(printable("\xe2\x82") == "??");
  Table t({{"S"}});
  t.add({"\x1b]0;title\x07"});
  CHECK(t.render() == "S\n?]0;title?\n");
}

TEST_CASE("shorten and widths") {
  CHECK(display_width("héllo") == 5);
  CHECK(shorten("hello", 5) == "hello");
  CHECK(shorten("hello world", 8) == "hello...");
  CHECK(shorten("ééééééé", 5) == "éé...");
  CHECK(shorten("hello", 2) == "..");
}

TEST_CASE("keyword files: one per line, comments and blanks skipped") {
  CHECK(keyword_lines("viagra\n# a comment\n\n  free money  \r\n\t#indented comment\ncasino") ==
        std::vector<std::string>{"viagra", "free money", "casino"});
  CHECK(keyword_lines("").empty());
  CHECK(keyword_lines("\n\n#x\n").empty());
}

TEST_CASE("password lines lose their line end only") {
  CHECK(strip_line_end("secret\n") == "secret");
  CHECK(strip_line_end("secret\r\n") == "secret");
  CHECK(strip_line_end("secret") == "secret");
  CHECK(strip_line_end(" sp ace \n") == " sp ace ");
  CHECK(strip_line_end("\n") == "");
}

TEST_CASE("times, sizes and durations for people") {
  CHECK(when("2026-11-24T06:10:00Z") == "2026-11-24 06:10:00");
  CHECK(when("") == "-");
  CHECK(human_size(0) == "0 B");
  CHECK(human_size(1536) == "1.5 KiB");
  CHECK(duration(59) == "59s");
  CHECK(duration(3661) == "1h 1m 1s");
  CHECK(duration(90061) == "1d 1h 1m 1s");
}
