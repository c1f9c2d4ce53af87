#include "server/daemon/control_server.hpp"

#include <grp.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include <asio/co_spawn.hpp>
#include <asio/strand.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/read_until.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>
#include <fmt/core.h>

#include "common/log.hpp"
#include "common/startup_error.hpp"
#include "control/protocol.hpp"
#include "server/daemon/control_dispatch.hpp"
#include "server/net/connection_caps.hpp"
#include "server/net/session_registry.hpp"
#include "server/net/spawn.hpp"
#include "server/services/context.hpp"

namespace shicks::daemon {
namespace fs = std::filesystem;
using asio::local::stream_protocol;
using namespace asio::experimental::awaitable_operators;
using namespace std::chrono_literals;

bool peer_allowed(const PeerCred& peer, unsigned daemon_uid, long group_gid) {
  if (peer.uid == 0 || peer.uid == daemon_uid) return true;
  if (group_gid < 0) return false;
  if (peer.gid == unsigned(group_gid)) return true;
  for (unsigned g : peer.groups)
    if (g == unsigned(group_gid)) return true;
  return false;
}

struct ControlServer::Impl {
  asio::io_context& io;
  const config::Config& cfg;
  Control control;
  stream_protocol::acceptor acceptor;
  long group_gid = -1;
  std::string path;
  ino_t inode = 0;
  net::SessionRegistry connections;  // the control connections, closed at shutdown (shicks-top keeps one open)
  // control.max_clients: every allowed connection holds a slot while it is open (a
  // `watch` stream, as shicks-top keeps, for its whole life).
  std::shared_ptr<net::ConnectionCaps> clients;

  Impl(services::ServerContext& server, std::function<void()> reload)
      : io(server.io),
        cfg(server.cfg),
        control{server, std::move(reload)},
        acceptor(server.io),
        path(cfg.server.control_socket.string()),
        clients(net::ConnectionCaps::make(cfg.control.max_clients, {cfg.control.max_clients})) {}
};

namespace {

PeerCred credentials(int fd) {
  PeerCred p;
  ucred uc{};
  socklen_t len = sizeof uc;
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &len) != 0) {
    p.uid = ~0u;  // unknown: refused below unless the group check passes, which it cannot
    p.gid = ~0u;
    p.user = "?";
    return p;
  }
  p.pid = uc.pid;
  p.uid = uc.uid;
  p.gid = uc.gid;
  passwd pw{};
  passwd* res = nullptr;
  char buf[4096];
  if (::getpwuid_r(uc.uid, &pw, buf, sizeof buf, &res) == 0 && res) {
    p.user = res->pw_name;
    int n = 64;
    std::vector<gid_t> groups(static_cast<std::size_t>(n));
    if (::getgrouplist(res->pw_name, res->pw_gid, groups.data(), &n) < 0) {
      groups.resize(std::size_t(n));
      ::getgrouplist(res->pw_name, res->pw_gid, groups.data(), &n);
    }
    groups.resize(std::size_t(std::max(n, 0)));
    for (gid_t g : groups) p.groups.push_back(unsigned(g));
  } else {
    p.user = std::to_string(uc.uid);
  }
  return p;
}

asio::awaitable<void> send(stream_protocol::socket& sock, const std::string& out) {
  co_await asio::async_write(sock, asio::buffer(out), asio::use_awaitable);
}

// control.max_clients reached: the client's first request (read for at most a few
// seconds, so that the answer is not lost to a reset) gets a one-line error, then
// the connection is closed. shicksctl prints it and exits 1.
asio::awaitable<void> refuse_busy(stream_protocol::socket& sock, ControlServer::Impl& impl, const std::string& sid,
                                  const PeerCred& peer) {
  unsigned max = impl.cfg.control.max_clients;
  log::Event(log::Level::warn, sid, "control.refused")
      .kv("user", peer.user)
      .kv("pid", peer.pid)
      .kv("reason", "control.max_clients reached")
      .kv("max_clients", max);
  std::string first;
  asio::steady_timer timer(sock.get_executor());
  timer.expires_after(5s);
  auto rd = asio::async_read_until(sock, asio::dynamic_buffer(first, 65536), '\n',
                                   asio::experimental::as_tuple(asio::use_awaitable));
  auto wait = timer.async_wait(asio::experimental::as_tuple(asio::use_awaitable));
  auto race = std::move(rd) || std::move(wait);
  auto res = co_await std::move(race);
  std::int64_t id = 0;
  if (res.index() == 0) {
    auto [rec, rn] = std::get<0>(res);
    if (!rec)
      if (auto req = control::decode_request(std::string_view(first).substr(0, rn))) id = req->id;
  }
  std::string msg = fmt::format(
      "too many control connections: all {} that control.max_clients allows are open (each shicks-top or other "
      "watch keeps one); try again later",
      max);
  std::string out = control::encode_error(id, msg);
  // A client that is gone already only ends this coroutine.
  co_await asio::async_write(sock, asio::buffer(out), asio::experimental::as_tuple(asio::use_awaitable));
}

asio::awaitable<void> control_session(stream_protocol::socket sock, ControlServer::Impl& impl) {
  PeerCred peer = credentials(sock.native_handle());
  std::string sid = impl.control.server.stats.next_session_id('c');
  if (!peer_allowed(peer, ::geteuid(), impl.group_gid)) {
    log::Event(log::Level::warn, sid, "control.refused").kv("uid", peer.uid).kv("user", peer.user).kv("pid", peer.pid);
    std::string msg = fmt::format("permission denied: user {} is neither root nor a member of group {}", peer.user,
                                  impl.cfg.control.group);
    // Read the request first (bounded), so the client gets the refusal as the answer
    // to what it sent instead of a reset connection.
    std::string first;
    auto [rec, rn] = co_await asio::async_read_until(sock, asio::dynamic_buffer(first, 65536), '\n',
                                                     asio::experimental::as_tuple(asio::use_awaitable));
    std::int64_t id = 0;
    if (!rec) {
      auto req = control::decode_request(std::string_view(first).substr(0, rn));
      if (req) id = req->id;
    }
    co_await send(sock, control::encode_error(id, msg));
    co_return;
  }
  auto slot = impl.clients->acquire(0);
  if (!slot) {
    co_await refuse_busy(sock, impl, sid, peer);
    co_return;
  }
  log::Event(log::Level::debug, sid, "control.connect").kv("user", peer.user).kv("pid", peer.pid);
  stream_protocol::socket* raw = &sock;
  auto close_fn = [raw] {
    std::error_code ignored;
    raw->close(ignored);
  };
  net::Registration registration(impl.connections, impl.connections.add(sock.get_executor(), close_fn));
  std::string buf;
  const std::size_t max = std::size_t(impl.cfg.control.max_request_bytes);
  for (;;) {
    auto [ec, n] = co_await asio::async_read_until(sock, asio::dynamic_buffer(buf, max), '\n',
                                                   asio::experimental::as_tuple(asio::use_awaitable));
    if (ec == asio::error::not_found) {
      std::string msg = fmt::format("request longer than {} bytes", max);
      co_await send(sock, control::encode_error(0, msg));
      break;
    }
    if (ec) break;  // EOF or reset: the client is done
    std::string line = buf.substr(0, n);
    buf.erase(0, n);
    bool more = co_await dispatch(sock, line, peer, sid, impl.control);
    if (!more) break;
  }
}

asio::awaitable<void> accept_loop(ControlServer::Impl& impl) {
  for (;;) {
    auto strand = asio::make_strand(impl.io);
    auto [ec, sock] =
        co_await impl.acceptor.async_accept(strand, asio::experimental::as_tuple(asio::use_awaitable));
    if (ec == asio::error::operation_aborted || !impl.acceptor.is_open()) co_return;
    if (ec) {
      log::warn("control.accept_failed").kv("error", ec.message());
      continue;
    }
    auto task = control_session(std::move(sock), impl);
    net::spawn(strand, std::move(task), "control session");
  }
}

// Is a live process answering on `path`?
bool socket_answers(const std::string& path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), std::min(path.size(), sizeof addr.sun_path - 1));
  bool live = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return live;
}

}  // namespace

ControlServer::ControlServer(services::ServerContext& server, std::function<void()> reload)
    : impl_(std::make_unique<Impl>(server, std::move(reload))) {}

ControlServer::~ControlServer() { close(); }

void ControlServer::bind() {
  const std::string& path = impl_->path;
  const std::string where = impl_->cfg.where("server.control_socket");
  struct stat st{};
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode))
      throw StartupError(fmt::format("{}{} exists and is not a socket; remove it or choose another path", where,
                                            path));
    if (socket_answers(path))
      throw StartupError(fmt::format("{}another shicksd is already answering on {}", where, path));
    ::unlink(path.c_str());  // stale: its daemon is gone
  }
  std::error_code ec;
  fs::create_directories(fs::path(path).parent_path(), ec);
  if (ec)
    throw StartupError(fmt::format("{}cannot create the folder of {}: {}", where, path, ec.message()));

  impl_->acceptor.open(stream_protocol(), ec);
  if (!ec) impl_->acceptor.bind(stream_protocol::endpoint(path), ec);
  if (!ec) impl_->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) throw StartupError(fmt::format("{}cannot listen on {}: {}", where, path, ec.message()));
  if (::lstat(path.c_str(), &st) == 0) impl_->inode = st.st_ino;

  group* gr = ::getgrnam(impl_->cfg.control.group.c_str());
  if (gr) {
    impl_->group_gid = long(gr->gr_gid);
    if (::chown(path.c_str(), uid_t(-1), gr->gr_gid) != 0)
      log::warn("control.chown_failed").kv("group", impl_->cfg.control.group).kv("error", std::strerror(errno));
  } else {
    log::warn("control.no_group")
        .kv("group", impl_->cfg.control.group)
        .kv("effect", "only root and the daemon's own user may use the control socket");
  }
  ::chmod(path.c_str(), 0660);
}

void ControlServer::start() {
  auto loop = accept_loop(*impl_);
  net::spawn(impl_->io.get_executor(), std::move(loop), "control accept");
  impl_->control.server.stats.add_listener({"control", impl_->path});
  log::info("listen").kv("service", "control").kv("address", impl_->path);
  std::printf("control socket is up & running on %s\n", impl_->path.c_str());
  std::fflush(stdout);
}

void ControlServer::close() {
  if (!impl_ || !impl_->acceptor.is_open()) return;
  std::error_code ec;
  impl_->acceptor.close(ec);
  impl_->connections.shutdown_all();
  struct stat st{};
  if (::lstat(impl_->path.c_str(), &st) == 0 && st.st_ino == impl_->inode) ::unlink(impl_->path.c_str());
}

}  // namespace shicks::daemon
