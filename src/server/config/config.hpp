#pragma once
// shicks.toml as plain structs. The default member initialisers below are the one
// source of defaults: the loader only overrides what the file sets, and
// man/shicks.toml.5 documents these same values.
//
// Adding a key: its field here, its row in schema() (config_loader.cpp: name, rule,
// field; the loader, flatten() and keys() follow from it), its entry in
// man/shicks.toml.5 (tests/unit/config/config_keys_test.cpp checks the page against
// the schema), shicks.toml when the repository's file shows it, and a test of its rule.
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "common/expected.hpp"
#include "common/netaddr.hpp"

namespace shicks::config {

inline std::vector<ListenAddress> all_addresses(std::uint16_t port) {
  return {*ListenAddress::parse("0.0.0.0:" + std::to_string(port)),
          *ListenAddress::parse("[::]:" + std::to_string(port))};
}

struct ServerConfig {
  std::string hostname;  // empty in the file's absence: the machine's host name
  std::filesystem::path state_dir = "/var/lib/shicks";
  std::filesystem::path control_socket = "/run/shicks/control.sock";
  unsigned threads = 0;  // network threads; 0 = one per core
  std::string log_level = "info";
  std::string user;  // account to run as after binding, when started as root
  unsigned shutdown_timeout_seconds = 30;
  // Connections open at once on every SMTP and POP3 listener together; beyond it a
  // connection is refused with 421 4.7.0 / -ERR [SYS/TEMP].
  unsigned max_connections = 1000;
  // Under stress (four fifths of server.max_connections, smtp.max_connections or
  // pop3.max_connections in use) each command -- and each TLS handshake -- must come
  // within this many seconds, and a message under DATA at 500 bytes/s after them;
  // 0 = the normal timeouts always.
  unsigned stress_timeout_seconds = 10;
};

struct ControlConfig {
  std::string group = "shicks";  // members (and root) may use the control socket
  std::uint64_t max_request_bytes = 1048576;
  unsigned max_clients = 64;
};

enum class DatabaseMode { managed, external };

struct DatabaseConfig {
  DatabaseMode mode = DatabaseMode::managed;
  std::string name = "maildb";
  // external only
  std::string host = "localhost";
  unsigned port = 3306;
  std::filesystem::path socket;  // when set, used instead of host/port
  std::string user;
  std::string password;
  std::filesystem::path password_file;
  // both modes
  bool allow_unsafe_durability = false;
  unsigned pool_size = 4;          // DB worker threads, one connection each
  unsigned queue_limit = 1024;     // pending jobs before callers get a temporary failure
  unsigned connect_timeout_seconds = 5;
  unsigned read_timeout_seconds = 30;
  unsigned write_timeout_seconds = 30;
  // managed only
  std::filesystem::path mariadbd = "/usr/sbin/mariadbd";
  std::filesystem::path install_db = "/usr/bin/mariadb-install-db";
  unsigned start_timeout_seconds = 60;
  // The private server's memory (store/managed_memory.hpp): 0 = worked out from the
  // machine and the data; managed_memory_mb bounds the automatic buffer pool,
  // buffer_pool_bytes fixes it instead (at most one of them is set).
  unsigned managed_memory_mb = 0;
  std::uint64_t buffer_pool_bytes = 0;
};

struct SmtpConfig {
  std::vector<ListenAddress> listen = all_addresses(25);
  std::vector<ListenAddress> submission_listen = all_addresses(587);
  std::vector<ListenAddress> smtps_listen = all_addresses(465);
  std::vector<Network> trusted_networks = {*Network::parse("127.0.0.0/8"), *Network::parse("::1/128")};
  std::uint64_t max_message_size_bytes = 26214400;
  unsigned max_recipients = 100;
  // RFC 5321 4.5.3.2: 5 minutes for a command, 3 minutes per block of DATA.
  unsigned command_timeout_seconds = 300;
  unsigned data_timeout_seconds = 180;
  std::uint64_t max_line_bytes = 4096;  // command lines (RFC 5321 wants at least 512)
  unsigned max_errors = 10;             // error replies before "421 too many errors"
  unsigned max_connections_per_ip = 20;
  // Connections open at once on the SMTP, submission and SMTPS listeners together
  // (below server.max_connections, so that a flood of SMTP leaves room for POP3).
  unsigned max_connections = 800;
};

struct Pop3Config {
  std::vector<ListenAddress> listen = all_addresses(110);
  std::vector<ListenAddress> pop3s_listen = all_addresses(995);
  // RFC 1939 3: the autologout timer is at least 10 minutes.
  unsigned autologout_seconds = 600;
  std::uint64_t max_line_bytes = 2048;  // commands and SASL responses (RFC 2449 wants 255)
  unsigned max_errors = 10;             // -ERR replies before the connection is closed
  unsigned max_connections_per_ip = 20;
  // Connections open at once on the POP3 and POP3S listeners together.
  unsigned max_connections = 800;
  // A login that finds the maildrop locked by another session waits this long for
  // it before answering -ERR [IN-USE]; 0 (the default) answers at once.
  unsigned lock_wait_seconds = 0;
};

struct TlsConfig {
  std::filesystem::path cert_file = "tls/cert.pem";
  std::filesystem::path key_file = "tls/key.pem";
  // The TLS handshake of SMTPS/POP3S and after STARTTLS/STLS must end within this.
  unsigned handshake_timeout_seconds = 30;
};

struct SpamConfig {
  // The keyword list imported when shicksd creates the schema; empty: the one
  // installed with shicksd (<prefix>/share/shicks/spam-keywords.txt).
  std::filesystem::path default_keywords_file;
};

struct Config {
  std::filesystem::path file;  // absolute path of the file it came from
  ServerConfig server;
  ControlConfig control;
  DatabaseConfig database;
  SmtpConfig smtp;
  Pop3Config pop3;
  TlsConfig tls;
  SpamConfig spam;
  // "section.key" -> line in `file`, for errors found after loading.
  std::map<std::string, int> lines;

  // "FILE:LINE: " for a key, or "FILE: " when the key was not in the file.
  std::string where(const std::string& key) const;
};

struct Problem {
  std::string file;
  int line = 0;  // 0: not tied to a line
  std::string message;
  std::string to_string() const;  // FILE:LINE: message
};

// Reads and validates `path`. Returns the config or every problem found.
Expected<Config, std::vector<Problem>> load(const std::filesystem::path& path);
// The same from text (tests); `path` is used for messages and relative paths.
Expected<Config, std::vector<Problem>> load_string(std::string_view text, const std::filesystem::path& path);

}  // namespace shicks::config

namespace shicks::config {
// Every effective setting as "section.key" -> text (lists joined with ", ", a secret
// as "(set)" or ""); used to tell, at SIGHUP, which keys changed.
std::map<std::string, std::string> flatten(const Config& c);

// Every key shicks.toml may hold, as the loader's schema lists them.
struct KeyInfo {
  std::string name;     // "section.key"
  std::string type;     // as man/shicks.toml.5 gives it: "integer, 1 to 3600", "path", "list of addresses"
  bool secret = false;  // flatten() shows only whether it is set
};
std::vector<KeyInfo> keys();
}  // namespace shicks::config
