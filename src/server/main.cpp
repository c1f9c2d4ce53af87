// shicksd: the Shicks mail server daemon.
#include <cstdio>
#include <string>

#include <CLI/CLI.hpp>

#include "server/config/config.hpp"
#include "server/daemon/daemon.hpp"
#include "shicks/version.hpp"

int main(int argc, char** argv) {
  using namespace shicks;
  CLI::App app{"shicksd - the Shicks mail server (SMTP, POP3, outbound relay; MySQL/MariaDB store)", "shicksd"};
  std::string file;
  bool check = false;
  app.add_option("-c,--config", file, "configuration file (shicks.toml)")->required();
  app.add_flag("--check-config", check, "validate the configuration, print every problem, exit 0 or 78");
  app.set_version_flag("--version", std::string("shicksd ") + kVersion);
  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {
    return app.exit(e);  // --help, --version
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return daemon::kExitUsage;
  }

  auto cfg = config::load(file);
  if (!cfg) {
    for (const auto& p : cfg.error()) std::fprintf(stderr, "%s\n", p.to_string().c_str());
    if (check) std::fprintf(stderr, "%s: %zu problem(s)\n", file.c_str(), cfg.error().size());
    return daemon::kExitConfig;
  }
  if (check) {
    std::printf("%s: configuration is valid\n", file.c_str());
    return daemon::kExitOk;
  }
  return daemon::run(std::move(cfg).value());
}
