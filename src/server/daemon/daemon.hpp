#pragma once
// shicksd's lifecycle: database, migrations, listeners, control socket, signals.
#include "server/config/config.hpp"

namespace shicks::daemon {

// Exit codes (sysexits.h where one fits).
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;  // could not start: database, ports, TLS files
inline constexpr int kExitUsage = 64;   // EX_USAGE
inline constexpr int kExitConfig = 78;  // EX_CONFIG

// Runs until SIGTERM/SIGINT; returns the process exit code.
int run(config::Config cfg);

}  // namespace shicks::daemon
