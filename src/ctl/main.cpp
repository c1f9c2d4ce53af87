// shicksctl: the Shicks admin CLI. It talks only to shicksd's control socket.
//
// Exit codes (interface.md): 0 ok; 1 the daemon refused (reason on stderr);
// 2 usage error; 69 the daemon cannot be reached.
#include <cstdio>
#include <string>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "control/client.hpp"
#include "ctl/commands.hpp"
#include "shicks/version.hpp"

namespace {
constexpr int kOk = 0, kRefused = 1, kUsage = 2, kUnreachable = 69;
using nlohmann::json;

// A failure: the reason on stderr (one line) and, with --json, one JSON document
// on stdout, so a script always gets exactly one.
int fail(int code, const std::string& reason, bool as_json) {
  if (as_json) std::printf("%s\n", json({{"ok", false}, {"error", reason}, {"exit", code}}).dump(-1, ' ', false, json::error_handler_t::replace).c_str());
  std::fprintf(stderr, "shicksctl: %s\n", reason.c_str());
  return code;
}

// The deepest command given on the command line: the program, or a group such as
// "user" that was named without one of its commands.
const CLI::App* deepest(const CLI::App& app) {
  const CLI::App* at = &app;
  while (!at->get_subcommands().empty()) at = at->get_subcommands().front();
  return at;
}

std::string command_path(const CLI::App* at) {
  std::string path;
  for (; at && at->get_parent(); at = at->get_parent()) path = at->get_name() + (path.empty() ? "" : " " + path);
  return path;
}

// When a group (or the program) was given no command it knows, says which word was
// not understood and what the choices are, instead of CLI11's "A subcommand is
// required". Returns "" for every other parse error.
std::string unknown_command(const CLI::App& app) {
  const CLI::App* group = deepest(app);
  auto choices = group->get_subcommands([](const CLI::App*) { return true; });
  if (choices.empty()) return "";  // a command with a missing option or argument
  std::string list;
  for (const auto* c : choices) list += (list.empty() ? "" : ", ") + c->get_name();
  const std::string path = command_path(group);
  const std::string help = path.empty() ? "shicksctl --help" : "shicksctl " + path + " --help";
  std::string word;
  for (const auto& w : app.remaining(true))
    if (!w.empty() && w[0] != '-') {
      word = w;
      break;
    }
  if (word.empty())
    return path.empty() ? "no command given; the commands are: " + list + " (see " + help + ")"
                        : "\"" + path + "\" needs a command: " + list + " (see " + help + ")";
  return "unknown command \"" + (path.empty() ? word : path + " " + word) + "\"; " +
         (path.empty() ? "the commands are: " : "the " + path + " commands are: ") + list + " (see " + help + ")";
}
}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"shicksctl - administer a running shicksd through its control socket", "shicksctl"};
  app.set_version_flag("--version", std::string("shicksctl ") + shicks::kVersion);
  std::string socket_opt, config_file;
  bool as_json = false;
  app.add_option("--socket", socket_opt,
                 "control socket (default: $SHICKS_SOCKET, else from -c, else /run/shicks/control.sock)");
  app.add_option("-c,--config", config_file, "read the control socket path from this shicks.toml");
  app.add_flag("--json", as_json, "print one JSON document on stdout");
  app.require_subcommand(1);
  app.fallthrough();  // global options may also follow the command
  app.footer("Exit status: 0 ok, 1 refused by the daemon, 2 usage error, 69 daemon unreachable.\n"
             "See shicksctl(8).");
  shicks::ctl::Commands commands(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    if (std::string reason = unknown_command(app); !reason.empty()) {
      std::fprintf(stderr, "shicksctl: %s\n", reason.c_str());
      return kUsage;
    }
    app.exit(e);
    return kUsage;
  }
  const shicks::ctl::Command* cmd = commands.selected();
  if (!cmd) return fail(kUsage, "no command given (see shicksctl --help)", as_json);

  auto path = shicks::control::resolve_socket(socket_opt, config_file);
  if (!path) return fail(kUsage, path.error(), as_json);
  // Connect before asking for a password, so nobody types one for a daemon that is down.
  auto client = shicks::control::Client::connect(*path);
  if (!client) return fail(kUnreachable, client.error().message, as_json);
  auto args = cmd->args();
  if (!args) return fail(kUsage, args.error(), as_json);
  std::string args_text = args->dump(-1, ' ', false, json::error_handler_t::replace);
  auto resp = client->call(cmd->request, args_text);
  if (!resp) {
    bool gone = resp.error().kind == shicks::control::ClientError::unreachable;
    return fail(gone ? kUnreachable : kRefused, resp.error().message, as_json);
  }
  if (!resp->ok) return fail(kRefused, resp->error, as_json);
  json result = json::parse(resp->result_json, nullptr, false);
  // An answer that reports a failed check ("passed": false, e.g. relay test) exits 1
  // once it is printed.
  int code = result.is_object() && result.contains("passed") && result["passed"] == false ? kRefused : kOk;
  if (as_json) {
    std::printf("%s\n", result.dump(2, ' ', false, json::error_handler_t::replace).c_str());
    return code;
  }
  cmd->print(result);
  return code;
}
