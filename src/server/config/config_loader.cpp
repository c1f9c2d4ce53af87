// Maps shicks.toml onto the structs of config.hpp. The only file that includes toml++.
// Every problem is reported as FILE:LINE: message; loading goes on after a problem so
// that --check-config can print all of them at once.
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>

#include <fmt/core.h>
#include <toml++/toml.h>

#include "common/log.hpp"
#include "common/strings.hpp"
#include "server/config/config.hpp"

namespace shicks::config {
namespace fs = std::filesystem;

std::string Problem::to_string() const {
  if (line > 0) return fmt::format("{}:{}: {}", file, line, message);
  return fmt::format("{}: {}", file, message);
}

std::string Config::where(const std::string& key) const {
  auto it = lines.find(key);
  if (it == lines.end()) return fmt::format("{}: ", file.string());
  return fmt::format("{}:{}: ", file.string(), it->second);
}

namespace {

struct Ctx {
  std::string file;
  std::vector<Problem> problems;
  void error(int line, std::string msg) { problems.push_back({file, line, std::move(msg)}); }
};

int line_of(const toml::node& n) { return int(n.source().begin.line); }

using Setter = std::function<void(const std::string& name, const toml::node&, Ctx&)>;
struct KeyDef {
  const char* key;
  Setter set;
};

Setter string_into(std::string& dst) {
  return [&dst](const std::string& name, const toml::node& n, Ctx& ctx) {
    if (auto v = n.value_exact<std::string>()) dst = *v;
    else ctx.error(line_of(n), fmt::format("{} must be a string", name));
  };
}

Setter path_into(fs::path& dst) {
  return [&dst](const std::string& name, const toml::node& n, Ctx& ctx) {
    auto v = n.value_exact<std::string>();
    if (!v) return ctx.error(line_of(n), fmt::format("{} must be a string (a path)", name));
    if (v->empty()) return ctx.error(line_of(n), fmt::format("{} must not be empty", name));
    dst = *v;
  };
}

template <class U>
Setter uint_into(U& dst, std::uint64_t min, std::uint64_t max) {
  return [&dst, min, max](const std::string& name, const toml::node& n, Ctx& ctx) {
    auto v = n.value_exact<std::int64_t>();
    if (!v) return ctx.error(line_of(n), fmt::format("{} must be an integer", name));
    if (*v < 0 || std::uint64_t(*v) < min || std::uint64_t(*v) > max)
      return ctx.error(line_of(n), fmt::format("{} must be between {} and {}, not {}", name, min, max, *v));
    dst = U(*v);
  };
}

Setter bool_into(bool& dst) {
  return [&dst](const std::string& name, const toml::node& n, Ctx& ctx) {
    if (auto v = n.value_exact<bool>()) dst = *v;
    else ctx.error(line_of(n), fmt::format("{} must be true or false", name));
  };
}

template <class T>
Setter list_into(std::vector<T>& dst, const char* what, const char* example) {
  return [&dst, what, example](const std::string& name, const toml::node& n, Ctx& ctx) {
    const toml::array* arr = n.as_array();
    if (!arr) return ctx.error(line_of(n), fmt::format("{} must be a list of {} such as [\"{}\"]", name, what, example));
    std::vector<T> out;
    for (const toml::node& item : *arr) {
      int line = item.source().begin.line ? line_of(item) : line_of(n);
      auto s = item.value_exact<std::string>();
      if (!s) {
        ctx.error(line, fmt::format("{}: every entry must be a string such as \"{}\"", name, example));
        continue;
      }
      auto parsed = T::parse(*s);
      if (!parsed) {
        ctx.error(line, fmt::format("{}: \"{}\" is not {} (expected e.g. \"{}\")", name, *s, what, example));
        continue;
      }
      out.push_back(*parsed);
    }
    dst = std::move(out);
  };
}

Setter db_mode_into(DatabaseMode& dst) {
  return [&dst](const std::string& name, const toml::node& n, Ctx& ctx) {
    auto v = n.value_exact<std::string>();
    if (v && *v == "managed") dst = DatabaseMode::managed;
    else if (v && *v == "external") dst = DatabaseMode::external;
    else ctx.error(line_of(n), fmt::format("{} must be \"managed\" or \"external\"", name));
  };
}

std::map<std::string, std::vector<KeyDef>> schema(Config& c) {
  const char* listen_what = "an address:port";
  const char* listen_ex = "127.0.0.1:25";
  std::map<std::string, std::vector<KeyDef>> s;
  s["server"] = {
      {"hostname", string_into(c.server.hostname)},
      {"state_dir", path_into(c.server.state_dir)},
      {"control_socket", path_into(c.server.control_socket)},
      {"threads", uint_into(c.server.threads, 0, 256)},
      {"log_level", string_into(c.server.log_level)},
      {"user", string_into(c.server.user)},
      {"shutdown_timeout_seconds", uint_into(c.server.shutdown_timeout_seconds, 1, 3600)},
      {"max_connections", uint_into(c.server.max_connections, 1, 1000000)},
  };
  s["control"] = {
      {"group", string_into(c.control.group)},
      {"max_request_bytes", uint_into(c.control.max_request_bytes, 1024, 64u << 20)},
      {"max_clients", uint_into(c.control.max_clients, 1, 10000)},
  };
  s["database"] = {
      {"mode", db_mode_into(c.database.mode)},
      {"name", string_into(c.database.name)},
      {"host", string_into(c.database.host)},
      {"port", uint_into(c.database.port, 1, 65535)},
      {"socket", path_into(c.database.socket)},
      {"user", string_into(c.database.user)},
      {"password", string_into(c.database.password)},
      {"password_file", path_into(c.database.password_file)},
      {"allow_unsafe_durability", bool_into(c.database.allow_unsafe_durability)},
      {"pool_size", uint_into(c.database.pool_size, 1, 64)},
      {"queue_limit", uint_into(c.database.queue_limit, 1, 1000000)},
      {"connect_timeout_seconds", uint_into(c.database.connect_timeout_seconds, 1, 3600)},
      {"read_timeout_seconds", uint_into(c.database.read_timeout_seconds, 1, 3600)},
      {"write_timeout_seconds", uint_into(c.database.write_timeout_seconds, 1, 3600)},
      {"mariadbd", path_into(c.database.mariadbd)},
      {"install_db", path_into(c.database.install_db)},
      {"start_timeout_seconds", uint_into(c.database.start_timeout_seconds, 1, 3600)},
      {"buffer_pool_bytes", uint_into(c.database.buffer_pool_bytes, 8u << 20, std::uint64_t(1) << 40)},
  };
  s["smtp"] = {
      {"listen", list_into(c.smtp.listen, listen_what, listen_ex)},
      {"submission_listen", list_into(c.smtp.submission_listen, listen_what, "127.0.0.1:587")},
      {"smtps_listen", list_into(c.smtp.smtps_listen, listen_what, "127.0.0.1:465")},
      {"trusted_networks", list_into(c.smtp.trusted_networks, "a network", "127.0.0.0/8")},
      {"max_message_size_bytes", uint_into(c.smtp.max_message_size_bytes, 1024, std::uint64_t(4) << 30)},
      {"max_recipients", uint_into(c.smtp.max_recipients, 1, 100000)},
      {"command_timeout_seconds", uint_into(c.smtp.command_timeout_seconds, 1, 3600)},
      {"data_timeout_seconds", uint_into(c.smtp.data_timeout_seconds, 1, 3600)},
      {"max_line_bytes", uint_into(c.smtp.max_line_bytes, 512, 1u << 20)},
      {"max_errors", uint_into(c.smtp.max_errors, 1, 1000)},
      {"max_connections_per_ip", uint_into(c.smtp.max_connections_per_ip, 1, 100000)},
      {"max_connections", uint_into(c.smtp.max_connections, 1, 1000000)},
  };
  s["pop3"] = {
      {"listen", list_into(c.pop3.listen, listen_what, "127.0.0.1:110")},
      {"pop3s_listen", list_into(c.pop3.pop3s_listen, listen_what, "127.0.0.1:995")},
      {"autologout_seconds", uint_into(c.pop3.autologout_seconds, 1, 86400)},
      {"max_line_bytes", uint_into(c.pop3.max_line_bytes, 256, 1u << 20)},
      {"max_errors", uint_into(c.pop3.max_errors, 1, 1000)},
      {"max_connections_per_ip", uint_into(c.pop3.max_connections_per_ip, 1, 100000)},
      {"max_connections", uint_into(c.pop3.max_connections, 1, 1000000)},
      {"lock_wait_seconds", uint_into(c.pop3.lock_wait_seconds, 0, 300)},
  };
  s["tls"] = {
      {"cert_file", path_into(c.tls.cert_file)},
      {"key_file", path_into(c.tls.key_file)},
      {"handshake_timeout_seconds", uint_into(c.tls.handshake_timeout_seconds, 1, 3600)},
  };
  s["spam"] = {
      {"default_keywords_file", path_into(c.spam.default_keywords_file)},
  };
  return s;
}

std::string known_keys(const std::vector<KeyDef>& defs) {
  std::string out;
  for (const auto& d : defs) {
    if (!out.empty()) out += ", ";
    out += d.key;
  }
  return out;
}

bool valid_hostname(std::string_view h) {
  if (h.empty() || h.size() > 253) return false;
  for (auto label : split(h, '.')) {
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') return false;
    for (char ch : label)
      if (!is_ascii_alpha(ch) && !is_ascii_digit(ch) && ch != '-') return false;
  }
  return true;
}

void resolve(fs::path& p, const fs::path& base) {
  if (!p.empty() && p.is_relative()) p = (base / p).lexically_normal();
}

void validate(Config& c, Ctx& ctx) {
  auto line = [&](const std::string& key) {
    auto it = c.lines.find(key);
    return it == c.lines.end() ? 0 : it->second;
  };
  if (c.server.hostname.empty()) {
    char buf[HOST_NAME_MAX + 1] = {};
    if (gethostname(buf, sizeof buf - 1) == 0) c.server.hostname = buf;
    if (!valid_hostname(c.server.hostname)) c.server.hostname = "localhost";
  } else if (!valid_hostname(c.server.hostname)) {
    ctx.error(line("server.hostname"),
              fmt::format("server.hostname \"{}\" is not a host name (letters, digits, '-' and '.')", c.server.hostname));
  }
  log::Level lvl;
  if (!log::parse_level(c.server.log_level, lvl))
    ctx.error(line("server.log_level"), "server.log_level must be one of debug, info, warn, error");
  if (!c.database.password.empty() && !c.database.password_file.empty())
    ctx.error(line("database.password_file"), "database.password and database.password_file are mutually exclusive");
  if (c.database.name.empty() || c.database.name.size() > 64 ||
      c.database.name.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_$") !=
          std::string::npos)
    ctx.error(line("database.name"), "database.name must be 1-64 letters, digits, '_' or '$'");
  if (c.database.mode == DatabaseMode::managed) {
    for (const char* k : {"database.host", "database.port", "database.socket", "database.user", "database.password",
                          "database.password_file"})
      if (c.lines.count(k))
        ctx.error(line(k), fmt::format("{} applies only when database.mode = \"external\"", k));
  }
  // Every listening address once.
  std::map<std::string, std::string> seen;
  auto check_listen = [&](const std::vector<ListenAddress>& v, const std::string& key) {
    for (const auto& a : v) {
      auto [it, fresh] = seen.emplace(a.to_string(), key);
      if (!fresh)
        ctx.error(line(key), fmt::format("{}: {} is already used by {}", key, a.to_string(), it->second));
    }
  };
  check_listen(c.smtp.listen, "smtp.listen");
  check_listen(c.smtp.submission_listen, "smtp.submission_listen");
  check_listen(c.smtp.smtps_listen, "smtp.smtps_listen");
  check_listen(c.pop3.listen, "pop3.listen");
  check_listen(c.pop3.pop3s_listen, "pop3.pop3s_listen");

  fs::path base = c.file.parent_path();
  resolve(c.server.state_dir, base);
  resolve(c.server.control_socket, base);
  resolve(c.database.socket, base);
  resolve(c.database.password_file, base);
  resolve(c.tls.cert_file, base);
  resolve(c.tls.key_file, base);
  resolve(c.spam.default_keywords_file, base);
  // sun_path holds 108 bytes including the terminator.
  if (c.server.control_socket.string().size() > 107)
    ctx.error(line("server.control_socket"),
              fmt::format("server.control_socket: {} is longer than a unix socket path may be (107 bytes)",
                          c.server.control_socket.string()));
  if (c.database.mode == DatabaseMode::managed &&
      (c.server.state_dir / "run" / "mariadb.sock").string().size() > 107)
    ctx.error(line("server.state_dir"),
              "server.state_dir is too long for the managed database's unix socket path (keep it under 90 bytes)");
}

}  // namespace

Expected<Config, std::vector<Problem>> load_string(std::string_view text, const fs::path& path) {
  Config c;
  c.file = fs::absolute(path).lexically_normal();
  Ctx ctx;
  ctx.file = path.string();

  toml::table root;
  try {
    root = toml::parse(text, ctx.file);
  } catch (const toml::parse_error& e) {
    ctx.error(int(e.source().begin.line), std::string(e.description()));
    return unexpected(std::move(ctx.problems));
  }

  auto defs = schema(c);
  for (auto&& [section_key, section_node] : root) {
    std::string section(section_key.str());
    int sline = int(section_key.source().begin.line);
    auto sit = defs.find(section);
    if (sit == defs.end()) {
      std::string known;
      for (const auto& [name, _] : defs) known += (known.empty() ? "" : ", ") + name;
      ctx.error(sline, fmt::format("unknown section [{}] (known: {})", section, known));
      continue;
    }
    const toml::table* table = section_node.as_table();
    if (!table) {
      ctx.error(sline, fmt::format("{} must be a table ([{}])", section, section));
      continue;
    }
    for (auto&& [key, value] : *table) {
      std::string k(key.str());
      std::string full = section + "." + k;
      int kline = int(key.source().begin.line);
      const KeyDef* def = nullptr;
      for (const auto& d : sit->second)
        if (k == d.key) def = &d;
      if (!def) {
        ctx.error(kline, fmt::format("unknown key {} (known in [{}]: {})", full, section, known_keys(sit->second)));
        continue;
      }
      c.lines[full] = kline;
      def->set(full, value, ctx);
    }
  }
  validate(c, ctx);
  if (!ctx.problems.empty()) {
    std::stable_sort(ctx.problems.begin(), ctx.problems.end(),
                     [](const Problem& a, const Problem& b) { return a.line < b.line; });
    return unexpected(std::move(ctx.problems));
  }
  return c;
}

Expected<Config, std::vector<Problem>> load(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return unexpected(std::vector<Problem>{{path.string(), 0, fmt::format("cannot read: {}", std::strerror(errno))}});
  }
  std::stringstream ss;
  ss << in.rdbuf();
  return load_string(ss.str(), path);
}

}  // namespace shicks::config

namespace shicks::config {

std::map<std::string, std::string> flatten(const Config& c) {
  std::map<std::string, std::string> m;
  auto list = [](const auto& v) {
    std::string out;
    for (const auto& x : v) out += (out.empty() ? "" : ", ") + x.to_string();
    return out;
  };
  auto b = [](bool v) { return std::string(v ? "true" : "false"); };
  m["server.hostname"] = c.server.hostname;
  m["server.state_dir"] = c.server.state_dir.string();
  m["server.control_socket"] = c.server.control_socket.string();
  m["server.threads"] = std::to_string(c.server.threads);
  m["server.log_level"] = c.server.log_level;
  m["server.user"] = c.server.user;
  m["server.shutdown_timeout_seconds"] = std::to_string(c.server.shutdown_timeout_seconds);
  m["server.max_connections"] = std::to_string(c.server.max_connections);
  m["control.group"] = c.control.group;
  m["control.max_request_bytes"] = std::to_string(c.control.max_request_bytes);
  m["control.max_clients"] = std::to_string(c.control.max_clients);
  m["database.mode"] = c.database.mode == DatabaseMode::managed ? "managed" : "external";
  m["database.name"] = c.database.name;
  m["database.host"] = c.database.host;
  m["database.port"] = std::to_string(c.database.port);
  m["database.socket"] = c.database.socket.string();
  m["database.user"] = c.database.user;
  m["database.password"] = c.database.password.empty() ? "" : "(set)";
  m["database.password_file"] = c.database.password_file.string();
  m["database.allow_unsafe_durability"] = b(c.database.allow_unsafe_durability);
  m["database.pool_size"] = std::to_string(c.database.pool_size);
  m["database.queue_limit"] = std::to_string(c.database.queue_limit);
  m["database.connect_timeout_seconds"] = std::to_string(c.database.connect_timeout_seconds);
  m["database.read_timeout_seconds"] = std::to_string(c.database.read_timeout_seconds);
  m["database.write_timeout_seconds"] = std::to_string(c.database.write_timeout_seconds);
  m["database.mariadbd"] = c.database.mariadbd.string();
  m["database.install_db"] = c.database.install_db.string();
  m["database.start_timeout_seconds"] = std::to_string(c.database.start_timeout_seconds);
  m["database.buffer_pool_bytes"] = std::to_string(c.database.buffer_pool_bytes);
  m["smtp.listen"] = list(c.smtp.listen);
  m["smtp.submission_listen"] = list(c.smtp.submission_listen);
  m["smtp.smtps_listen"] = list(c.smtp.smtps_listen);
  m["smtp.trusted_networks"] = list(c.smtp.trusted_networks);
  m["smtp.max_message_size_bytes"] = std::to_string(c.smtp.max_message_size_bytes);
  m["smtp.max_recipients"] = std::to_string(c.smtp.max_recipients);
  m["smtp.command_timeout_seconds"] = std::to_string(c.smtp.command_timeout_seconds);
  m["smtp.data_timeout_seconds"] = std::to_string(c.smtp.data_timeout_seconds);
  m["smtp.max_line_bytes"] = std::to_string(c.smtp.max_line_bytes);
  m["smtp.max_errors"] = std::to_string(c.smtp.max_errors);
  m["smtp.max_connections_per_ip"] = std::to_string(c.smtp.max_connections_per_ip);
  m["smtp.max_connections"] = std::to_string(c.smtp.max_connections);
  m["pop3.listen"] = list(c.pop3.listen);
  m["pop3.pop3s_listen"] = list(c.pop3.pop3s_listen);
  m["pop3.autologout_seconds"] = std::to_string(c.pop3.autologout_seconds);
  m["pop3.max_line_bytes"] = std::to_string(c.pop3.max_line_bytes);
  m["pop3.max_errors"] = std::to_string(c.pop3.max_errors);
  m["pop3.max_connections_per_ip"] = std::to_string(c.pop3.max_connections_per_ip);
  m["pop3.max_connections"] = std::to_string(c.pop3.max_connections);
  m["pop3.lock_wait_seconds"] = std::to_string(c.pop3.lock_wait_seconds);
  m["tls.cert_file"] = c.tls.cert_file.string();
  m["tls.key_file"] = c.tls.key_file.string();
  m["tls.handshake_timeout_seconds"] = std::to_string(c.tls.handshake_timeout_seconds);
  m["spam.default_keywords_file"] = c.spam.default_keywords_file.string();
  return m;
}

}  // namespace shicks::config
