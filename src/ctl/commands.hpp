#pragma once
// shicksctl's commands: each one is a CLI11 subcommand, the control request it
// sends (a row of src/server/daemon/control_dispatch.cpp answers it) and how its answer is
// printed for people (--json prints the answer itself).
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "common/expected.hpp"

namespace shicks::ctl {

struct Command {
  CLI::App* sub = nullptr;
  std::string request;  // the control command, e.g. "user.add"
  // The request's arguments. May read a password or a file; an error here is the
  // user's to fix (exit 2).
  std::function<Expected<nlohmann::json, std::string>()> args;
  std::function<void(const nlohmann::json& result)> print;
};

class Commands {
 public:
  // Adds every subcommand to `app`.
  explicit Commands(CLI::App& app);
  Commands(const Commands&) = delete;
  Commands& operator=(const Commands&) = delete;
  ~Commands();
  // The command the parsed command line selected (nullptr if none).
  const Command* selected() const;

 private:
  struct Options;
  std::unique_ptr<Options> o_;
  std::vector<Command> list_;
};

}  // namespace shicks::ctl
