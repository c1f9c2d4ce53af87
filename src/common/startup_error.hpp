#pragma once
// A reason for shicksd not to start (a config line, a database that cannot be used, a
// port taken); the message is for the operator and names what to change.
#include <stdexcept>

namespace shicks {

struct StartupError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

}  // namespace shicks
