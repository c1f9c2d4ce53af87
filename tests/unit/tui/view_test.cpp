#include "tui/view.hpp"

#include <catch2/catch.hpp>
#include <fmt/core.h>

#include "common/text.hpp"

using namespace shicks::tui;
using shicks::display_width;

namespace {
constexpr std::int64_t kT0 = 1795500000000;

std::string session_json(int i) {
  return fmt::format(R"({{"id":"p{}","protocol":"pop3","peer":"127.0.0.1:{}","user":"user{}","state":"transaction",)"
                     R"("tls":false,"age_seconds":{},"bytes_in":10,"bytes_out":5000}})",
                     i, 5000 + i, i, 60 * i);
}

Model model(int sessions, bool with_relay = false) {
  std::string list;
  for (int i = 1; i <= sessions; ++i) list += (i > 1 ? "," : "") + session_json(i);
  Model m;
  m.apply_line(fmt::format(
      R"({{"event":"snapshot","time_ms":{},"version":"0.1.0","hostname":"mx.example.org","uptime_seconds":3661,)"
      R"("listeners":[{{"protocol":"smtp","address":"127.0.0.1:2525"}},{{"protocol":"submission","address":"127.0.0.1:2587"}},)"
      R"({{"protocol":"smtps","address":"127.0.0.1:2465"}},{{"protocol":"pop3","address":"127.0.0.1:1100"}},)"
      R"({{"protocol":"pop3s","address":"127.0.0.1:1995"}},{{"protocol":"control","address":"/run/shicks/control.sock"}}],)"
      R"("database":{{"state":"up","mode":"managed","name":"maildb","relay_queue":0}},)"
      R"("connections_open":{},"connections_total":9,"counters":{{"smtp_messages_accepted":1{}}},"sessions":[{}]}})",
      kT0, sessions, with_relay ? R"(,"relay_sent":0)" : "", list));
  return m;
}

bool contains(const std::vector<Line>& lines, const std::string& text) {
  for (const auto& l : lines)
    if (l.text.find(text) != std::string::npos) return true;
  return false;
}

void check_size(const std::vector<Line>& lines, std::size_t rows, std::size_t cols) {
  REQUIRE(lines.size() == rows);
  for (const auto& l : lines) CHECK(display_width(l.text) == cols);
}
}  // namespace

TEST_CASE("fit, short_age, sparkline", "[tui]") {
  CHECK(fit("abc", 5) == "abc  ");
  CHECK(fit("abcdefgh", 6) == "abc...");
  CHECK(fit("a\x1b[2J", 5) == "a?[2J");  // nothing printed can drive the terminal
  CHECK(short_age(5) == "5s");
  CHECK(short_age(125) == "2m05s");
  CHECK(short_age(3 * 3600 + 120) == "3h02m");
  CHECK(short_age(2 * 86400 + 3 * 3600) == "2d03h");
  CHECK(sparkline({0, 1, 8, 4}, false) == " .@=");
  CHECK(sparkline({0, 0}, true) == "  ");
  CHECK(sparkline({2}, true) == "\xe2\x96\x88");
}

TEST_CASE("80x24: header, listeners, rates, tabs, sessions and the key line", "[tui]") {
  Model m = model(3);
  UiState ui;
  auto lines = layout(m, ui, 24, 80);
  check_size(lines, 24, 80);
  CHECK(lines[0].style == Style::bar);
  CHECK(contains(lines, "mx.example.org"));
  CHECK(contains(lines, "shicksd 0.1.0"));
  CHECK(contains(lines, "up 01:01:01"));
  CHECK(contains(lines, "db up (managed maildb)"));
  CHECK(contains(lines, "smtp 127.0.0.1:2525"));
  CHECK(contains(lines, "pop3s 127.0.0.1:1995"));
  CHECK(contains(lines, "control /run/shicks/control.sock"));
  CHECK(contains(lines, "received"));
  CHECK(contains(lines, "(not reported by this shicksd)"));  // relay and spam counters absent
  CHECK(contains(lines, " Sessions "));
  CHECK(contains(lines, "user2"));
  CHECK(contains(lines, "127.0.0.1:5003"));
  CHECK(lines.back().text.find("q quit") != std::string::npos);
  // The first session is selected.
  bool selected = false;
  for (const auto& l : lines) selected = selected || (l.style == Style::selected && l.text.find("p1 ") == 0);
  CHECK(selected);
  CHECK(selected_session(m, ui) == "p1");
}

TEST_CASE("any size from 40x10 to 200x60 fills the screen exactly", "[tui]") {
  Model m = model(30, true);
  for (View v : kViews)
    for (auto [rows, cols] : {std::pair<std::size_t, std::size_t>{24, 80}, {10, 40}, {60, 200}, {25, 81}}) {
      UiState ui;
      ui.view = v;
      check_size(layout(m, ui, rows, cols), rows, cols);
    }
}

TEST_CASE("the selection scrolls the table and follows its session", "[tui]") {
  Model m = model(30);
  UiState ui;
  auto page = page_rows(m, 24, 80);
  REQUIRE(page > 3);
  REQUIRE(page < 30);
  ui.cursor().move(long(page) + 2, 30);
  auto lines = layout(m, ui, 24, 80);
  std::string id = fmt::format("p{}", page + 3);
  CHECK(selected_session(m, ui) == id);
  CHECK_FALSE(contains(lines, "user1 "));  // scrolled past the first rows
  CHECK(contains(lines, fmt::format("user{} ", page + 3)));

  // p1 and p2 end: the selection stays on the same session.
  Model fewer;
  std::string list;
  for (int i = 3; i <= 30; ++i) list += (i > 3 ? "," : "") + session_json(i);
  fewer.apply_line(fmt::format(R"({{"event":"snapshot","time_ms":{},"sessions":[{}]}})", kT0, list));
  layout(fewer, ui, 24, 80);
  CHECK(selected_session(fewer, ui) == id);
  // Its session gone too: the selection stays in range.
  Model none;
  none.apply_line(fmt::format(R"({{"event":"snapshot","time_ms":{},"sessions":[]}})", kT0));
  lines = layout(none, ui, 24, 80);
  CHECK(selected_session(none, ui).empty());
  CHECK(contains(lines, "(no open SMTP or POP3 sessions)"));
}

TEST_CASE("disconnected: the alert line and the last known listeners", "[tui]") {
  Model m = model(1);
  m.set_disconnected("cannot connect to /x.sock: Connection refused");
  UiState ui;
  auto lines = layout(m, ui, 24, 80);
  CHECK(contains(lines, "disconnected \xe2\x80\x94 retrying: cannot connect"));
  CHECK(contains(lines, "smtp 127.0.0.1:2525"));
  ui.utf8 = false;
  CHECK(contains(layout(m, ui, 24, 80), "disconnected - retrying"));
  Model never;
  never.set_disconnected("no socket");
  CHECK(contains(layout(never, ui, 24, 80), "disconnected - retrying: no socket"));
}

TEST_CASE("tabs, help, question and pause", "[tui]") {
  Model m = model(1);
  m.apply_line(R"({"event":"activity","seq":1,"time_ms":1795500000000,"type":"smtp.accepted","fields":[["from","a@b.example"]]})");
  m.apply_spam_list(R"({"keywords":[{"keyword":"lottery","hits":4}]})");
  UiState ui;
  CHECK(next_view(View::sessions, -1) == View::counters);
  CHECK(next_view(View::counters, 1) == View::sessions);
  ui.view = View::events;
  auto lines = layout(m, ui, 24, 80);
  CHECK(contains(lines, "smtp.accepted"));
  CHECK(contains(lines, "from=a@b.example"));
  CHECK(selected_session(m, ui).empty());  // k acts only in the sessions view
  ui.view = View::spam;
  CHECK(contains(layout(m, ui, 24, 80), "lottery"));
  ui.view = View::queue;
  CHECK(contains(layout(m, ui, 24, 80), "(the relay queue is empty)"));
  ui.view = View::counters;
  CHECK(contains(layout(m, ui, 24, 80), "smtp_messages_accepted"));
  ui.help = true;
  CHECK(contains(layout(m, ui, 24, 80), "end the selected session"));
  ui.help = false;
  ui.question = "end session p1?";
  lines = layout(m, ui, 24, 80);
  CHECK(lines.back().text.find("end session p1? (y/n)") != std::string::npos);
  CHECK(lines.back().style == Style::alert);
  ui.question.clear();
  ui.paused = true;
  CHECK(layout(m, ui, 24, 80)[0].text.find("PAUSED") != std::string::npos);
}

namespace {
// A daemon with the default listeners (IPv4 and IPv6 for each protocol) and a long
// host name, as a real installation has.
Model installed_model() {
  std::string listeners;
  for (auto [proto, port] : {std::pair<const char*, int>{"smtp", 25}, {"submission", 587}, {"smtps", 465},
                             {"pop3", 110}, {"pop3s", 995}})
    listeners += fmt::format(R"({{"protocol":"{0}","address":"0.0.0.0:{1}"}},{{"protocol":"{0}","address":"[::]:{1}"}},)",
                             proto, port);
  listeners += R"({"protocol":"control","address":"/run/shicks/control.sock"})";
  Model m;
  m.apply_line(fmt::format(
      R"({{"event":"snapshot","time_ms":{},"version":"0.1.0","hostname":"mail.example-company.org",)"
      R"("uptime_seconds":93661,"listeners":[{}],"database":{{"state":"up","mode":"managed","name":"maildb",)"
      R"("relay_queue":0}},"connections_open":2,"connections_total":9,)"
      R"("counters":{{"smtp_messages_accepted":1,"relay_sent":0,"pop3_retrievals":3,"spam_hits":0}},"sessions":[]}})",
      kT0, listeners));
  return m;
}

const Line* find_line(const std::vector<Line>& lines, const std::string& text) {
  for (const auto& l : lines)
    if (l.text.find(text) != std::string::npos) return &l;
  return nullptr;
}
}  // namespace

TEST_CASE("80x24: the title is whole, dropping only what does not fit", "[tui]") {
  Model m = installed_model();
  UiState ui;
  auto lines = layout(m, ui, 24, 80);
  check_size(lines, 24, 80);
  const std::string& title = lines[0].text;
  CHECK(title.find("...") == std::string::npos);
  CHECK(title.find(" shicks-top  mail.example-company.org  shicksd 0.1.0  up 1d 02:01  db up") == 0);
  // Wide enough: the database's mode and name too.
  CHECK(layout(m, ui, 24, 100)[0].text.find("db up (managed maildb)") != std::string::npos);
  // Narrower: "shicksd" goes before anything is cut.
  auto narrow = layout(m, ui, 24, 70)[0].text;
  CHECK(narrow.find("...") == std::string::npos);
  CHECK(narrow.find("mail.example-company.org  0.1.0  up 1d 02:01  db up") != std::string::npos);
  ui.paused = true;
  CHECK(layout(m, ui, 24, 80)[0].text.find("[PAUSED]  mail.example-company.org") != std::string::npos);
}

TEST_CASE("80x24: every listener is shown, each protocol once", "[tui]") {
  Model m = installed_model();
  UiState ui;
  auto lines = layout(m, ui, 24, 80);
  CHECK(contains(lines, "listeners: smtp 0.0.0.0:25 [::]:25, submission 0.0.0.0:587 [::]:587,"));
  CHECK(contains(lines, "pop3s 0.0.0.0:995 [::]:995"));
  CHECK(contains(lines, "control /run/shicks/control.sock"));
  for (const auto& l : lines) CHECK(l.text.find("...") == std::string::npos);
}

TEST_CASE("80x24: the rate headings are three labels apart", "[tui]") {
  Model m = installed_model();
  UiState ui;
  auto lines = layout(m, ui, 24, 80);
  const Line* heading = find_line(lines, "LAST MIN");
  REQUIRE(heading);
  CHECK(heading->style == Style::heading);
  CHECK(heading->text.find("RATE        LAST MIN  HISTORY, ONE COLUMN PER MINUTE") == 0);
  // The numbers stand under LAST MIN, with two blanks on either side.
  const Line* received = find_line(lines, "received");
  REQUIRE(received);
  CHECK(received->text.find("received           0  ") == 0);  // growth: one snapshot has none
  CHECK(contains(lines, "retrieved          0  "));
}

TEST_CASE("80x24: event details go on to continuation lines instead of being cut", "[tui]") {
  Model m = installed_model();
  m.apply_line(R"({"event":"activity","seq":1,"time_ms":1795500000000,"type":"smtp.accepted","fields":)"
               R"([["id","0A1B2C3D4E5F6"],["from","someone.long@sender.example.org"],["rcpts","2"],["size","12345"]]})");
  m.apply_line(R"({"event":"activity","seq":2,"time_ms":1795500001000,"type":"pop3.retrieved","fields":)"
               R"([["user","alice"],["message","1"],["octets","12345"]]})");
  UiState ui;
  ui.view = View::events;
  auto lines = layout(m, ui, 24, 80);
  check_size(lines, 24, 80);
  for (const auto& l : lines) CHECK(l.text.find("...") == std::string::npos);
  CHECK(contains(lines, "pop3.retrieved   user=alice message=1 octets=12345"));
  CHECK(contains(lines, "smtp.accepted    id=0A1B2C3D4E5F6 from=someone.long@sender.example.org "));
  const Line* more = find_line(lines, "rcpts=2");
  REQUIRE(more);
  CHECK(more->text.find(std::string(26, ' ') + "rcpts=2 size=12345 ") == 0);
  // The newest event is selected; a continuation line never is.
  CHECK(find_line(lines, "pop3.retrieved")->style == Style::selected);
  CHECK(more->style == Style::normal);
}

TEST_CASE("the selection passes over event continuation lines both ways", "[tui]") {
  Model m = installed_model();
  for (int seq = 1; seq <= 3; ++seq)
    m.apply_line(fmt::format(R"({{"event":"activity","seq":{},"time_ms":1795500000000,"type":"smtp.accepted",)"
                             R"("fields":[["id","ID{}"],["from","someone.long@sender.example.org"],)"
                             R"(["rcpts","2"],["size","12345"]]}})",
                             seq, seq));
  UiState ui;
  ui.view = View::events;
  auto selected_text = [&] {
    for (const auto& l : layout(m, ui, 24, 80))
      if (l.style == Style::selected) return l.text;
    return std::string();
  };
  auto rows = view_rows(m, View::events, 80, true).rows.size();
  REQUIRE(rows == 6);  // three events of two lines each
  CHECK(selected_text().find("id=ID3") != std::string::npos);
  ui.cursor().move(1, rows);
  CHECK(selected_text().find("id=ID2") != std::string::npos);
  ui.cursor().move(1, rows);
  CHECK(selected_text().find("id=ID1") != std::string::npos);
  ui.cursor().move(1, rows);  // the last line is a continuation: stays on ID1
  CHECK(selected_text().find("id=ID1") != std::string::npos);
  ui.cursor().move(-1, rows);
  CHECK(selected_text().find("id=ID2") != std::string::npos);
  ui.cursor().move(-1, rows);
  CHECK(selected_text().find("id=ID3") != std::string::npos);
  // A new event: the selection stays on its event.
  m.apply_line(R"({"event":"activity","seq":4,"time_ms":1795500000000,"type":"pop3.quit",)"
               R"("fields":[["user","alice"],["deleted","1"]]})");
  CHECK(selected_text().find("id=ID3") != std::string::npos);
}
