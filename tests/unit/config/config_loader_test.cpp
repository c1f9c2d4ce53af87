#include <catch2/catch.hpp>

#include <string>

#include "server/config/config.hpp"

using namespace shicks;
using config::load_string;

namespace {
// Every problem, rendered, joined by newlines.
std::string problems(const std::string& text, const char* path = "/etc/shicks/shicks.toml") {
  auto r = load_string(text, path);
  if (r) return "";
  std::string out;
  for (const auto& p : r.error()) out += p.to_string() + "\n";
  return out;
}
}  // namespace

TEST_CASE("an empty file gives the production defaults") {
  auto c = load_string("", "/etc/shicks/shicks.toml");
  REQUIRE(c);
  CHECK(c->server.state_dir == "/var/lib/shicks");
  CHECK(c->server.control_socket == "/run/shicks/control.sock");
  CHECK(c->database.mode == config::DatabaseMode::managed);
  CHECK(c->database.name == "maildb");
  REQUIRE(c->smtp.listen.size() == 2);
  CHECK(c->smtp.listen[0].to_string() == "0.0.0.0:25");
  CHECK(c->smtp.listen[1].to_string() == "[::]:25");
  CHECK(c->smtp.submission_listen[0].port == 587);
  CHECK(c->smtp.smtps_listen[0].port == 465);
  CHECK(c->pop3.listen[0].port == 110);
  CHECK(c->pop3.pop3s_listen[0].port == 995);
  CHECK(c->smtp.max_message_size_bytes == 26214400);
  CHECK(c->smtp.max_recipients == 100);
  CHECK(c->tls.cert_file == "/etc/shicks/tls/cert.pem");
  CHECK_FALSE(c->server.hostname.empty());
}

TEST_CASE("the repository's development file is valid and means what it says") {
  auto c = config::load(SHICKS_SOURCE_DIR "/shicks.toml");
  if (!c) {
    for (auto& p : c.error()) UNSCOPED_INFO(p.to_string());
  }
  REQUIRE(c);
  CHECK(c->server.hostname == "mail.example.org");
  CHECK(c->smtp.listen.at(0).to_string() == "127.0.0.1:2525");
  CHECK(c->smtp.submission_listen.at(0).to_string() == "127.0.0.1:2587");
  CHECK(c->smtp.smtps_listen.at(0).to_string() == "127.0.0.1:2465");
  CHECK(c->pop3.listen.at(0).to_string() == "127.0.0.1:1100");
  CHECK(c->pop3.pop3s_listen.at(0).to_string() == "127.0.0.1:1995");
  CHECK(c->server.state_dir == std::filesystem::path(SHICKS_SOURCE_DIR "/var").lexically_normal());
  CHECK(c->server.control_socket ==
        std::filesystem::path(SHICKS_SOURCE_DIR "/var/run/control.sock").lexically_normal());
}

TEST_CASE("relative paths resolve against the file's folder, absolute ones stay") {
  auto c = load_string(
      "[server]\nstate_dir = \"../state\"\ncontrol_socket = \"/run/x.sock\"\n[tls]\ncert_file = \"c.pem\"\n",
      "/srv/mail/conf/shicks.toml");
  REQUIRE(c);
  CHECK(c->server.state_dir == "/srv/mail/state");
  CHECK(c->server.control_socket == "/run/x.sock");
  CHECK(c->tls.cert_file == "/srv/mail/conf/c.pem");
  CHECK(c->tls.key_file == "/srv/mail/conf/tls/key.pem");
}

TEST_CASE("an empty list disables a listener") {
  auto c = load_string("[smtp]\nlisten = []\n[pop3]\npop3s_listen = []\n", "/x/s.toml");
  REQUIRE(c);
  CHECK(c->smtp.listen.empty());
  CHECK(c->pop3.pop3s_listen.empty());
  CHECK(c->pop3.listen.size() == 2);
}

TEST_CASE("unknown keys and sections are reported with their line") {
  std::string p = problems("[server]\nhostname = \"a.example\"\n\n[smtp]\nbogus = 1\n[nonsense]\nx = 1\n", "f.toml");
  CHECK(p.find("f.toml:5: unknown key smtp.bogus") != std::string::npos);
  CHECK(p.find("f.toml:6: unknown section [nonsense]") != std::string::npos);
}

TEST_CASE("every bad value is reported, each with its own line") {
  std::string text =
      "[server]\n"                                   // 1
      "hostname = \"bad host!\"\n"                  // 2
      "log_level = \"loud\"\n"                       // 3
      "threads = -1\n"                               // 4
      "[smtp]\n"                                     // 5
      "listen = [\"127.0.0.1:70000\"]\n"             // 6
      "max_recipients = \"many\"\n"                  // 7
      "trusted_networks = [\"10.0.0.0/40\"]\n"       // 8
      "[database]\n"                                 // 9
      "mode = \"external\"\n"                        // 10
      "password = \"x\"\n"                           // 11
      "password_file = \"/etc/pw\"\n"                // 12
      "pool_size = 0\n";                             // 13
  std::string p = problems(text, "f.toml");
  CHECK(p.find("f.toml:2: server.hostname") != std::string::npos);
  CHECK(p.find("f.toml:3: server.log_level") != std::string::npos);
  CHECK(p.find("f.toml:4: server.threads must be between") != std::string::npos);
  CHECK(p.find("f.toml:6: smtp.listen: \"127.0.0.1:70000\"") != std::string::npos);
  CHECK(p.find("f.toml:7: smtp.max_recipients must be an integer") != std::string::npos);
  CHECK(p.find("f.toml:8: smtp.trusted_networks: \"10.0.0.0/40\"") != std::string::npos);
  CHECK(p.find("f.toml:12: database.password and database.password_file are mutually exclusive") !=
        std::string::npos);
  CHECK(p.find("f.toml:13: database.pool_size must be between 1 and 64, not 0") != std::string::npos);
}

TEST_CASE("external-only database keys are refused in managed mode") {
  std::string p = problems("[database]\nmode = \"managed\"\nhost = \"db.example\"\n", "f.toml");
  CHECK(p.find("f.toml:3: database.host applies only when database.mode = \"external\"") != std::string::npos);
}

TEST_CASE("managed-only database keys are refused in external mode") {
  std::string p = problems("[database]\nmode = \"external\"\nbuffer_pool_bytes = 67108864\nmanaged_memory_mb = 256\n"
                           "mariadbd = \"/usr/sbin/mariadbd\"\n",
                           "f.toml");
  CHECK(p.find("f.toml:3: database.buffer_pool_bytes applies only when database.mode = \"managed\"") != std::string::npos);
  CHECK(p.find("f.toml:4: database.managed_memory_mb applies only when database.mode = \"managed\"") != std::string::npos);
  CHECK(p.find("f.toml:5: database.mariadbd applies only when database.mode = \"managed\"") != std::string::npos);
}

TEST_CASE("a fixed buffer pool and a memory bound for the automatic one are not set together") {
  std::string p = problems("[database]\nmode = \"managed\"\nmanaged_memory_mb = 256\nbuffer_pool_bytes = 67108864\n", "f.toml");
  CHECK(p.find("f.toml:4: database.buffer_pool_bytes fixes the buffer pool and database.managed_memory_mb bounds") !=
        std::string::npos);
  CHECK(problems("[database]\nmode = \"managed\"\nmanaged_memory_mb = 256\n", "f.toml").empty());
  CHECK(problems("[database]\nmode = \"managed\"\nmanaged_memory_mb = 63\n", "f.toml")
            .find("database.managed_memory_mb must be between 64 and 1048576, not 63") != std::string::npos);
}

TEST_CASE("the same address cannot serve two listeners") {
  std::string p = problems("[smtp]\nlisten = [\"127.0.0.1:25\"]\n[pop3]\nlisten = [\"127.0.0.1:25\"]\n", "f.toml");
  CHECK(p.find("f.toml:4: pop3.listen: 127.0.0.1:25 is already used by smtp.listen") != std::string::npos);
}

TEST_CASE("TOML syntax errors carry their line") {
  std::string p = problems("[server]\nhostname = \"unterminated\n", "f.toml");
  CHECK(p.rfind("f.toml:2: ", 0) == 0);
}

TEST_CASE("type errors name the expected type") {
  CHECK(problems("[database]\nallow_unsafe_durability = \"yes\"\n", "f.toml")
            .find("f.toml:2: database.allow_unsafe_durability must be true or false") != std::string::npos);
  CHECK(problems("[smtp]\nlisten = \"127.0.0.1:25\"\n", "f.toml").find("f.toml:2: smtp.listen must be a list") !=
        std::string::npos);
  CHECK(problems("server = 1\n", "f.toml").find("f.toml:1: server must be a table") != std::string::npos);
}

TEST_CASE("a missing file is one clear problem") {
  auto r = config::load("/nonexistent/shicks.toml");
  REQUIRE_FALSE(r);
  REQUIRE(r.error().size() == 1);
  CHECK(r.error()[0].to_string().find("/nonexistent/shicks.toml: cannot read") == 0);
}

TEST_CASE("flatten lists every key, hiding the database password") {
  auto c = load_string("[database]\nmode = \"external\"\npassword = \"s3cret\"\n", "/x/s.toml");
  REQUIRE(c);
  auto m = config::flatten(*c);
  CHECK(m.at("database.password") == "(set)");
  CHECK(m.at("smtp.listen") == "0.0.0.0:25, [::]:25");
  for (const auto& [k, v] : m) CHECK(v.find("s3cret") == std::string::npos);
}

TEST_CASE("pop3.lock_wait_seconds: 0 by default, 0 to 300, a bad value named with its line") {
  auto c = load_string("", "/x/s.toml");
  REQUIRE(c);
  CHECK(c->pop3.lock_wait_seconds == 0);
  CHECK(config::flatten(*c).at("pop3.lock_wait_seconds") == "0");
  auto some = load_string("[pop3]\nlock_wait_seconds = 10\n", "/x/s.toml");
  REQUIRE(some);
  CHECK(some->pop3.lock_wait_seconds == 10);
  auto most = load_string("[pop3]\nlock_wait_seconds = 300\n", "/x/s.toml");
  REQUIRE(most);
  CHECK(most->pop3.lock_wait_seconds == 300);
  CHECK(problems("[pop3]\n\nlock_wait_seconds = 301\n", "f.toml")
            .find("f.toml:3: pop3.lock_wait_seconds must be between 0 and 300, not 301") != std::string::npos);
  CHECK(problems("[pop3]\nlock_wait_seconds = -1\n", "f.toml")
            .find("f.toml:2: pop3.lock_wait_seconds must be between 0 and 300, not -1") != std::string::npos);
  CHECK(problems("[pop3]\nlock_wait_seconds = 2.5\n", "f.toml")
            .find("f.toml:2: pop3.lock_wait_seconds must be an integer") != std::string::npos);
}

TEST_CASE("connection caps: server, smtp and pop3 max_connections, 1 to 1000000, each named with its line") {
  auto c = load_string("", "/x/s.toml");
  REQUIRE(c);
  CHECK(c->server.max_connections == 1000);
  CHECK(c->smtp.max_connections == 800);
  CHECK(c->pop3.max_connections == 800);
  auto m = config::flatten(*c);
  CHECK(m.at("server.max_connections") == "1000");
  CHECK(m.at("smtp.max_connections") == "800");
  CHECK(m.at("pop3.max_connections") == "800");
  auto set = load_string("[server]\nmax_connections = 3\n[smtp]\nmax_connections = 2\n[pop3]\nmax_connections = 1\n",
                         "/x/s.toml");
  REQUIRE(set);
  CHECK(set->server.max_connections == 3);
  CHECK(set->smtp.max_connections == 2);
  CHECK(set->pop3.max_connections == 1);
  CHECK(set->lines.count("server.max_connections") == 1);
  CHECK(problems("[server]\nmax_connections = 0\n", "f.toml")
            .find("f.toml:2: server.max_connections must be between 1 and 1000000, not 0") != std::string::npos);
  CHECK(problems("[smtp]\n\nmax_connections = 1000001\n", "f.toml")
            .find("f.toml:3: smtp.max_connections must be between 1 and 1000000") != std::string::npos);
  CHECK(problems("[pop3]\nmax_connections = \"many\"\n", "f.toml")
            .find("f.toml:2: pop3.max_connections must be an integer") != std::string::npos);
}

TEST_CASE("tls.handshake_timeout_seconds: 30 by default, 1 to 3600, a bad value named with its line") {
  auto c = load_string("", "/x/s.toml");
  REQUIRE(c);
  CHECK(c->tls.handshake_timeout_seconds == 30);
  CHECK(config::flatten(*c).at("tls.handshake_timeout_seconds") == "30");
  auto set = load_string("[tls]\nhandshake_timeout_seconds = 5\n", "/x/s.toml");
  REQUIRE(set);
  CHECK(set->tls.handshake_timeout_seconds == 5);
  CHECK(config::flatten(*set).at("tls.handshake_timeout_seconds") == "5");
  CHECK(problems("[tls]\n\nhandshake_timeout_seconds = 0\n", "f.toml")
            .find("f.toml:3: tls.handshake_timeout_seconds must be between 1 and 3600, not 0") != std::string::npos);
  CHECK(problems("[tls]\nhandshake_timeout_seconds = 3601\n", "f.toml")
            .find("f.toml:2: tls.handshake_timeout_seconds must be between 1 and 3600, not 3601") != std::string::npos);
  CHECK(problems("[tls]\nhandshake_timeout_seconds = \"30s\"\n", "f.toml")
            .find("f.toml:2: tls.handshake_timeout_seconds must be an integer") != std::string::npos);
}
