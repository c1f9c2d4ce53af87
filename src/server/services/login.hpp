#pragma once
// A password login as SMTP AUTH and POP3 both do it: the per-IP throttle (shared by
// both protocols, limits from the runtime settings at each attempt), the check on a
// DB worker, and the counters and events of a failure. Protocol-specific logging
// and replies stay with the caller.
#include <chrono>
#include <string>

#include <asio/awaitable.hpp>

#include "server/services/context.hpp"

namespace shicks::services {

struct LoginOutcome {
  enum Kind { ok, bad_credentials, banned, temp_failure } kind = temp_failure;
  std::string user;                     // ok: the user's NAME
  std::uint64_t user_id = 0;            // ok
  std::chrono::seconds retry_after{0};  // banned: time left
  std::string error;                    // temp_failure: why (for the log)
};

// `protocol` ("smtp", "pop3") names the attempt in the failure event.
asio::awaitable<LoginOutcome> login(ServerContext& ctx, const char* protocol, const std::string& peer_ip,
                                    std::string login, std::string password);

}  // namespace shicks::services
