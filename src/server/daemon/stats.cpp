#include "server/daemon/stats.hpp"

#include <fmt/core.h>

namespace shicks::daemon {

void Stats::add_listener(ListenerInfo l) {
  std::lock_guard lock(mu_);
  listeners_.push_back(std::move(l));
}

std::vector<ListenerInfo> Stats::listeners() const {
  std::lock_guard lock(mu_);
  return listeners_;
}

std::uint64_t Stats::uptime_seconds() const {
  return std::uint64_t(
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - started_).count());
}

std::string Stats::next_session_id(char prefix) { return fmt::format("{}{}", prefix, next_id_++); }

}  // namespace shicks::daemon
