#include "server/daemon/privileges.hpp"

#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include <fmt/core.h>

#include "common/log.hpp"
#include "server/store/schema.hpp"

namespace shicks::daemon {
namespace fs = std::filesystem;

namespace {

bool empty_dir(const fs::path& p) {
  std::error_code ec;
  return fs::is_empty(p, ec) && !ec;
}

void give(const fs::path& p, const Account& to, const char* what) {
  if (::chown(p.c_str(), to.uid, to.gid) != 0)
    throw StartupError(fmt::format("cannot hand {} {} to {}: {}", what, p.string(), to.name, std::strerror(errno)));
}

}  // namespace

std::optional<Account> account_to_become(const config::Config& cfg) {
  const std::string& name = cfg.server.user;
  if (::geteuid() != 0) {
    if (!name.empty()) log::debug("privileges.unchanged").kv("user", name).kv("reason", "not started as root");
    return std::nullopt;
  }
  if (name.empty() || name == "root") {
    log::warn("privileges.root")
        .kv("effect", "shicksd keeps running as root")
        .kv("hint", "set [server] user to an unprivileged account");
    return std::nullopt;
  }
  passwd pw{};
  passwd* res = nullptr;
  char buf[16384];
  int rc = ::getpwnam_r(name.c_str(), &pw, buf, sizeof buf, &res);
  if (rc != 0 || !res)
    throw StartupError(fmt::format("{}server.user: there is no account \"{}\" (create it, e.g. useradd --system "
                                   "--home-dir /var/lib/shicks --shell /usr/sbin/nologin {}); shicksd refuses to "
                                   "keep running as root",
                                   cfg.where("server.user"), name, name));
  if (res->pw_uid == 0)
    throw StartupError(fmt::format("{}server.user: account \"{}\" has uid 0; name an unprivileged account",
                                   cfg.where("server.user"), name));
  return Account{name, res->pw_uid, res->pw_gid};
}

void hand_over(const config::Config& cfg, const Account& to, bool socket_dir_created) {
  // The socket keeps its group (the admin group) and mode 0660.
  const fs::path& sock = cfg.server.control_socket;
  if (::chown(sock.c_str(), to.uid, gid_t(-1)) != 0)
    throw StartupError(fmt::format("cannot hand the control socket {} to {}: {}", sock.string(), to.name,
                                   std::strerror(errno)));
  if (socket_dir_created) give(sock.parent_path(), to, "the folder");

  if (cfg.database.mode != config::DatabaseMode::managed) return;
  const fs::path& state = cfg.server.state_dir;
  std::error_code ec;
  if (!fs::exists(state, ec)) {
    fs::create_directories(state, ec);
    if (ec) throw StartupError(fmt::format("cannot create {}: {}", state.string(), ec.message()));
    ::chmod(state.c_str(), 0750);
  }
  struct stat st{};
  if (::stat(state.c_str(), &st) != 0)
    throw StartupError(fmt::format("cannot read {}: {}", state.string(), std::strerror(errno)));
  if (st.st_uid == to.uid) return;
  if (!empty_dir(state))
    throw StartupError(fmt::format("{}server.state_dir: {} belongs to uid {}, but shicksd runs as {} (server.user) "
                                   "and keeps its database there; give it to that account first: chown -R {}: {}",
                                   cfg.where("server.state_dir"), state.string(), st.st_uid, to.name, to.name,
                                   state.string()));
  give(state, to, "the state directory");
}

void become(const Account& a) {
  // glibc applies each of these to every thread of the process.
  if (::initgroups(a.name.c_str(), a.gid) != 0)
    throw StartupError(fmt::format("initgroups({}): {}", a.name, std::strerror(errno)));
  if (::setgid(a.gid) != 0) throw StartupError(fmt::format("setgid({}): {}", a.gid, std::strerror(errno)));
  if (::setuid(a.uid) != 0) throw StartupError(fmt::format("setuid({}): {}", a.uid, std::strerror(errno)));
  if (::setuid(0) == 0 || ::geteuid() == 0) throw StartupError("still able to become root after dropping privileges");
  log::info("privileges.dropped").kv("user", a.name).kv("uid", a.uid).kv("gid", a.gid);
}

}  // namespace shicks::daemon
