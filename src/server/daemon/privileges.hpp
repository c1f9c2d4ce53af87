#pragma once
// Started as root, shicksd binds its listeners and the control socket (ports below
// 1024 need root), then becomes [server] user for good, before it opens the
// database or accepts anything (design.md 8).
#include <sys/types.h>

#include <optional>
#include <string>

#include "server/config/config.hpp"

namespace shicks::daemon {

struct Account {
  std::string name;
  uid_t uid = 0;
  gid_t gid = 0;
};

// The account to become: nullopt when not running as root, or when server.user is
// empty or "root" (a warning says so). Throws StartupError when server.user names
// no account: running on as root by mistake is worse than not running.
std::optional<Account> account_to_become(const config::Config& cfg);

// While still root: hands the account what it must own afterwards. The control
// socket (and its folder when shicksd just created it, so the socket can be removed
// at exit); in managed mode the state directory, created when missing. A state
// directory with files of another owner is refused (chown -R it first).
void hand_over(const config::Config& cfg, const Account& to, bool socket_dir_created);

// initgroups, setgid, setuid, and a check that root cannot be regained. Throws
// StartupError.
void become(const Account& a);

}  // namespace shicks::daemon
