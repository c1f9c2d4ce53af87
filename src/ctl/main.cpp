// shicksctl: the Shicks admin CLI. It talks only to shicksd's control socket.
//
// Exit codes (interface.md): 0 ok; 1 the daemon refused (reason on stderr);
// 2 usage error; 69 the daemon cannot be reached.
#include <cstdio>
#include <string>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "control/client.hpp"
#include "shicks/version.hpp"

namespace {
constexpr int kOk = 0, kRefused = 1, kUsage = 2, kUnreachable = 69;
using nlohmann::json;

std::string duration(std::uint64_t s) {
  std::string out;
  if (s >= 86400) out += std::to_string(s / 86400) + "d ";
  if (s >= 3600) out += std::to_string(s % 86400 / 3600) + "h ";
  if (s >= 60) out += std::to_string(s % 3600 / 60) + "m ";
  out += std::to_string(s % 60) + "s";
  return out;
}

void print_status(const json& r) {
  std::printf("shicksd %s on %s, up %s\n", r.value("version", "?").c_str(), r.value("hostname", "?").c_str(),
              duration(r.value("uptime_seconds", std::uint64_t(0))).c_str());
  const json& db = r.contains("database") ? r["database"] : json::object();
  std::string state = db.value("state", "?");
  std::string detail = state == "up" ? db.value("server_version", "") : db.value("error", "");
  std::printf("%-12s %s %s: %s%s%s\n", "database", db.value("mode", "?").c_str(), db.value("name", "?").c_str(),
              state.c_str(), detail.empty() ? "" : " - ", detail.c_str());
  bool first = true;
  const json listeners = r.value("listeners", json::array());
  for (const auto& l : listeners) {
    std::printf("%-12s %-11s %s\n", first ? "listeners" : "", l.value("protocol", "?").c_str(),
                l.value("address", "?").c_str());
    first = false;
  }
  bool first_counter = true;
  const json counters = r.value("counters", json::object());
  for (const auto& [name, value] : counters.items()) {
    if (!value.is_number_unsigned()) continue;
    std::printf("%-12s %-26s %llu\n", first_counter ? "counters" : "", name.c_str(),
                static_cast<unsigned long long>(value.get<std::uint64_t>()));
    first_counter = false;
  }
  std::printf("%-12s %llu open, %llu since start\n", "connections",
              static_cast<unsigned long long>(r.value("connections_open", 0ull)),
              static_cast<unsigned long long>(r.value("connections_total", 0ull)));
}
}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"shicksctl - administer a running shicksd through its control socket", "shicksctl"};
  app.set_version_flag("--version", std::string("shicksctl ") + shicks::kVersion);
  std::string socket_opt, config_file;
  bool as_json = false;
  app.add_option("--socket", socket_opt, "control socket (default: $SHICKS_SOCKET, else from -c, else /run/shicks/control.sock)");
  app.add_option("-c,--config", config_file, "read the control socket path from this shicks.toml");
  app.add_flag("--json", as_json, "print one JSON document on stdout");
  app.require_subcommand(1);
  auto* status = app.add_subcommand("status", "version, uptime, listeners, database state");
  auto* ping = app.add_subcommand("ping", "check that the daemon answers");
  auto* reload = app.add_subcommand("reload", "re-read shicks.toml (like SIGHUP)");
  (void)status;
  (void)ping;
  (void)reload;
  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return kUsage;
  }

  auto path = shicks::control::resolve_socket(socket_opt, config_file);
  if (!path) {
    std::fprintf(stderr, "shicksctl: %s\n", path.error().c_str());
    return kUsage;
  }
  auto client = shicks::control::Client::connect(*path);
  if (!client) {
    std::fprintf(stderr, "shicksctl: %s\n", client.error().message.c_str());
    return kUnreachable;
  }
  std::string cmd = app.get_subcommands().front()->get_name();
  auto resp = client->call(cmd);
  if (!resp) {
    std::fprintf(stderr, "shicksctl: %s\n", resp.error().message.c_str());
    return resp.error().kind == shicks::control::ClientError::unreachable ? kUnreachable : kRefused;
  }
  if (!resp->ok) {
    if (as_json) std::printf("%s\n", json({{"ok", false}, {"error", resp->error}}).dump().c_str());
    std::fprintf(stderr, "shicksctl: %s\n", resp->error.c_str());
    return kRefused;
  }
  json result = json::parse(resp->result_json, nullptr, false);
  if (as_json) {
    std::printf("%s\n", result.dump(2).c_str());
    return kOk;
  }
  if (cmd == "status") print_status(result);
  else if (cmd == "ping") std::printf("shicksd %s answers\n", result.value("version", "?").c_str());
  else if (cmd == "reload") std::printf("configuration reloaded (see the daemon's log for keys that need a restart)\n");
  return kOk;
}
