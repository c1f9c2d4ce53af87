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

// A key's rule: how its TOML value is checked and stored, how flatten() shows the
// stored value, and its type as man/shicks.toml.5 writes it ("integer, 1 to 3600").
using Setter = std::function<void(const std::string& name, const toml::node&, Ctx&)>;
struct Rule {
  Setter set;
  std::function<std::string()> show;
  std::string type;
  bool secret = false;  // shown only as set or not
};
struct KeyDef {
  const char* key;
  Rule rule;
};

Rule string_into(std::string& dst) {
  auto set = [&dst](const std::string& name, const toml::node& n, Ctx& ctx) {
    if (auto v = n.value_exact<std::string>()) dst = *v;
    else ctx.error(line_of(n), fmt::format("{} must be a string", name));
  };
  return {set, [&dst] { return dst; }, "string"};
}

// A string flatten() never shows: it says only whether one is set.
Rule secret_into(std::string& dst) {
  Rule r = string_into(dst);
  r.show = [&dst] { return std::string(dst.empty() ? "" : "(set)"); };
  r.secret = true;
  return r;
}

Rule path_into(fs::path& dst) {
  auto set = [&dst](const std::string& name, const toml::node& n, Ctx& ctx) {
    auto v = n.value_exact<std::string>();
    if (!v) return ctx.error(line_of(n), fmt::format("{} must be a string (a path)", name));
    if (v->empty()) return ctx.error(line_of(n), fmt::format("{} must not be empty", name));
    dst = *v;
  };
  return {set, [&dst] { return dst.string(); }, "path"};
}

template <class U>
Rule uint_into(U& dst, std::uint64_t min, std::uint64_t max) {
  auto set = [&dst, min, max](const std::string& name, const toml::node& n, Ctx& ctx) {
    auto v = n.value_exact<std::int64_t>();
    if (!v) return ctx.error(line_of(n), fmt::format("{} must be an integer", name));
    if (*v < 0 || std::uint64_t(*v) < min || std::uint64_t(*v) > max)
      return ctx.error(line_of(n), fmt::format("{} must be between {} and {}, not {}", name, min, max, *v));
    dst = U(*v);
  };
  return {set, [&dst] { return std::to_string(dst); }, fmt::format("integer, {} to {}", min, max)};
}

Rule bool_into(bool& dst) {
  auto set = [&dst](const std::string& name, const toml::node& n, Ctx& ctx) {
    if (auto v = n.value_exact<bool>()) dst = *v;
    else ctx.error(line_of(n), fmt::format("{} must be true or false", name));
  };
  return {set, [&dst] { return std::string(dst ? "true" : "false"); }, "boolean"};
}

// `what` names one entry for errors ("an address:port"), `type` the key for the
// manual ("list of addresses").
template <class T>
Rule list_into(std::vector<T>& dst, const char* what, const char* example, const char* type) {
  auto set = [&dst, what, example](const std::string& name, const toml::node& n, Ctx& ctx) {
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
  auto show = [&dst] {
    std::string out;
    for (const auto& x : dst) out += (out.empty() ? "" : ", ") + x.to_string();
    return out;
  };
  return {set, show, type};
}

Rule db_mode_into(DatabaseMode& dst) {
  auto set = [&dst](const std::string& name, const toml::node& n, Ctx& ctx) {
    auto v = n.value_exact<std::string>();
    if (v && *v == "managed") dst = DatabaseMode::managed;
    else if (v && *v == "external") dst = DatabaseMode::external;
    else ctx.error(line_of(n), fmt::format("{} must be \"managed\" or \"external\"", name));
  };
  return {set, [&dst] { return std::string(dst == DatabaseMode::managed ? "managed" : "external"); }, "string"};
}

// Every key of shicks.toml, by section, bound to the fields of `c`: its name, its rule
// and where it is stored. The loader, flatten() and keys() all read this one list.
std::map<std::string, std::vector<KeyDef>> schema(Config& c) {
  const char* listen_what = "an address:port";
  const char* listen_ex = "127.0.0.1:25";
  const char* addresses = "list of addresses";
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
      {"stress_timeout_seconds", uint_into(c.server.stress_timeout_seconds, 0, 3600)},
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
      {"password", secret_into(c.database.password)},
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
      {"managed_memory_mb", uint_into(c.database.managed_memory_mb, 64, 1048576)},
      {"buffer_pool_bytes", uint_into(c.database.buffer_pool_bytes, 8u << 20, std::uint64_t(1) << 40)},
  };
  s["smtp"] = {
      {"listen", list_into(c.smtp.listen, listen_what, listen_ex, addresses)},
      {"submission_listen", list_into(c.smtp.submission_listen, listen_what, "127.0.0.1:587", addresses)},
      {"smtps_listen", list_into(c.smtp.smtps_listen, listen_what, "127.0.0.1:465", addresses)},
      {"trusted_networks", list_into(c.smtp.trusted_networks, "a network", "127.0.0.0/8", "list of networks")},
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
      {"listen", list_into(c.pop3.listen, listen_what, "127.0.0.1:110", addresses)},
      {"pop3s_listen", list_into(c.pop3.pop3s_listen, listen_what, "127.0.0.1:995", addresses)},
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
    if (c.lines.count("database.managed_memory_mb") && c.lines.count("database.buffer_pool_bytes"))
      ctx.error(line("database.buffer_pool_bytes"),
                "database.buffer_pool_bytes fixes the buffer pool and database.managed_memory_mb bounds its automatic "
                "size: set one of them");
  } else {
    for (const char* k : {"database.managed_memory_mb", "database.buffer_pool_bytes", "database.mariadbd",
                          "database.install_db", "database.start_timeout_seconds"})
      if (c.lines.count(k))
        ctx.error(line(k), fmt::format("{} applies only when database.mode = \"managed\"", k));
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
      def->rule.set(full, value, ctx);
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
  Config copy = c;  // schema() binds its rules to a Config they may write; this one is only read
  std::map<std::string, std::string> m;
  for (const auto& [section, defs] : schema(copy))
    for (const auto& d : defs) m[section + "." + d.key] = d.rule.show();
  return m;
}

std::vector<KeyInfo> keys() {
  Config c;
  std::vector<KeyInfo> out;
  for (const auto& [section, defs] : schema(c))
    for (const auto& d : defs) out.push_back({section + "." + d.key, d.rule.type, d.rule.secret});
  return out;
}

}  // namespace shicks::config
