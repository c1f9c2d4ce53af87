#include "server/pop3/session.hpp"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <optional>

#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <fmt/core.h>

#include "common/log.hpp"
#include "common/netaddr.hpp"
#include "server/services/connection.hpp"
#include "server/mail/dot_stuffer.hpp"
#include "server/pop3/protocol.hpp"
#include "server/mail/line_reader.hpp"
#include "server/mail/trace.hpp"
#include "server/store/mail_store.hpp"
#include "server/store/pop3_store.hpp"

namespace shicks::pop3 {
using asio::ip::tcp;
using namespace std::chrono_literals;
using namespace asio::experimental::awaitable_operators;
using Clock = std::chrono::steady_clock;

namespace {

// Output is written when this much is queued (or before waiting for input), so a
// pipelined burst of small RETRs goes out in few writes and a large message is
// streamed in bounded pieces.
constexpr std::size_t kFlushBytes = 256 * 1024;

// A login waiting for a maildrop in use (pop3.lock_wait_seconds) tries the database
// again this often, so a lease given back by another shicksd on the same database, or
// one that expired, is seen soon; a session of this daemon wakes it at once.
constexpr auto kLockRetry = 250ms;
// While it waits, client input is read (that is how a disconnect is noticed) and
// kept for later, up to about this much; beyond that it stays in the socket.
constexpr std::size_t kLockWaitInputBytes = 64 * 1024;

// RETR/TOP read-ahead: a message start that is not cached is read in one round trip
// with those of the next live messages of the snapshot, at most this many entries
// whose first chunks total at most kReadAheadBytes (the one asked for always comes).
constexpr std::size_t kReadAheadEntries = store::kMessageStartsPerQuery;
constexpr std::uint64_t kReadAheadBytes = 512 * 1024;

struct OpenJob {
  std::uint64_t user_id;
  std::string owner;
  unsigned lease_seconds;
  store::Maildrop operator()(store::Connection& c) const {
    return store::open_maildrop(c, user_id, owner, lease_seconds);
  }
};

struct ReleaseJob {
  std::uint64_t user_id;
  std::string owner;
  bool operator()(store::Connection& c) const {
    store::release_lease(c, user_id, owner);
    return true;
  }
};

struct StartsJob {
  std::uint64_t user_id;
  std::vector<std::uint64_t> entry_ids;
  std::vector<store::MessageStart> operator()(store::Connection& c) const {
    return store::read_message_starts(c, user_id, entry_ids);
  }
};

struct ChunkJob {
  std::uint64_t message_id;
  std::uint32_t seq;
  std::string operator()(store::Connection& c) const { return store::read_message_chunk(c, message_id, seq); }
};

struct UpdateJob {
  std::uint64_t user_id;
  std::string owner;
  std::vector<std::uint64_t> entry_ids;
  store::UpdateResult operator()(store::Connection& c) const {
    return store::commit_deletions(c, user_id, owner, entry_ids);
  }
};

services::Connection::Kind connection_kind(bool implicit_tls, const services::ServerContext& ctx) {
  // A client that does not take our output within the autologout time is gone.
  return {"pop3", implicit_tls ? "pop3s" : "pop3", implicit_tls, &ctx.pop3_limiter,
          "-ERR [SYS/TEMP] Too many connections from your address\r\n",
          std::chrono::seconds(ctx.cfg.pop3.autologout_seconds)};
}

class Session final : public services::Conversation {
 public:
  Session(tcp::socket sock, bool implicit_tls, std::string sid, services::ServerContext& ctx)
      : ctx_(ctx),
        implicit_tls_(implicit_tls),
        conn_(std::move(sock), ctx, std::move(sid), connection_kind(implicit_tls, ctx)),
        reader_(std::size_t(ctx.cfg.pop3.max_line_bytes)),
        proto_(make_policy()),
        lock_wait_timer_(conn_.executor()) {}

  services::Connection& connection() { return conn_; }
  asio::awaitable<void> converse() override;
  asio::awaitable<void> finish() override;
  // Shutdown and `session.kill` (the connection ends at once, without a reply and
  // without UPDATE) also end a wait for the maildrop.
  void stopping() override { lock_wait_timer_.cancel(); }
  unsigned errors() const override { return proto_.errors(); }

  // The daemon's renewal found the lease gone (daemon/pop3_leases.hpp): another
  // session has the maildrop now. This one ends at once, deleting nothing. Runs on
  // the session's executor.
  void lease_lost() {
    if (lease_ != Lease::held) return;
    lease_ = Lease::none;
    lease_lost_ = true;
    lease_reg_.reset();
    event(log::Level::warn, "pop3.lease_lost").kv("user", user_);
    std::error_code ec;
    conn_.stream().socket().cancel(ec);
  }

 private:
  Policy make_policy() {
    Policy p;
    p.hostname = ctx_.cfg.server.hostname;
    p.implicit_tls = implicit_tls_;
    p.tls_available = ctx_.tls != nullptr;
    if (auto ip = IpAddress::parse(conn_.peer_ip())) p.peer_loopback = ip->is_loopback();
    p.plaintext_auth_on_loopback = ctx_.settings.get(config::setting::auth_allow_plaintext_on_loopback);
    p.max_errors = ctx_.cfg.pop3.max_errors;
    return p;
  }

  log::Event event(log::Level lvl, std::string_view name) { return log::Event(lvl, conn_.sid(), name); }

  void queue(const std::string& s) { conn_.queue(s); }
  asio::awaitable<void> flush() { return conn_.flush(); }

  asio::awaitable<bool> fill();             // false: the connection is done
  bool lease_lost_end();
  asio::awaitable<bool> perform(Action a);  // false: close the session
  asio::awaitable<Action> authenticate(const auth::Credentials& c);
  asio::awaitable<Action> load_maildrop();
  asio::awaitable<store::DbResult<store::Maildrop>> open_maildrop();
  enum class LockWait { retry, shutdown, gone };
  asio::awaitable<LockWait> wait_for_lease(Clock::time_point deadline);
  enum class Sent { ok, unreadable, broken };
  asio::awaitable<Sent> retrieve(const Action& a);
  asio::awaitable<store::DbResult<store::MessageStart>> message_start(const Action& a);
  std::vector<std::uint64_t> read_ahead(std::size_t index) const;
  asio::awaitable<Action> update(std::vector<std::uint64_t> ids);
  asio::awaitable<void> release();

  services::ServerContext& ctx_;
  bool implicit_tls_;
  services::Connection conn_;  // before proto_: make_policy() reads the peer
  mail::LineReader reader_;
  Protocol proto_;
  // The maildrop lease: taken at login, renewed by the daemon (ctx_.pop3_leases) with
  // the leases of its other sessions while lease_reg_ is registered.
  std::uint64_t user_id_ = 0;
  std::string user_;
  std::string owner_;
  enum class Lease { none, held, uncertain } lease_ = Lease::none;
  unsigned lease_seconds_ = 0;
  std::optional<services::Pop3Leases::Registration> lease_reg_;
  bool lease_lost_ = false;
  // Waiting for the lease at login: the timer of one retry interval, cancelled (on
  // this strand) by a session of this daemon that gives the lease back, by shutdown
  // and by kill.
  asio::steady_timer lock_wait_timer_;
  bool lock_woken_ = false;
  // Read-ahead message starts by entry id; each is dropped once sent. Filled only
  // after emptying, from one read-ahead: at most kReadAheadEntries entries and
  // kReadAheadBytes of first chunks (read_ahead()), so that bounds its memory.
  std::map<std::uint64_t, store::MessageStart> starts_;
};

asio::awaitable<bool> Session::fill() {
  conn_.info().set_state(proto_.state_name());
  auto shutdown = [this] {
    queue(proto_.shutdown_reply());
    conn_.end("shutdown");
    return false;
  };
  if (conn_.shutting_down()) co_return shutdown();
  if (lease_lost_) co_return lease_lost_end();
  std::error_code ec;
  co_await conn_.read_command(reader_, std::chrono::seconds(ctx_.cfg.pop3.autologout_seconds), ec);
  if (ec == asio::error::timed_out) {
    // RFC 1939 3: the autologout timer (reset by each command, not by the bytes of
    // one) ends the session without the UPDATE state.
    queue(proto_.timeout_reply());
    conn_.end(conn_.stress_timed_out() ? "stress-timeout" : "timeout");
    co_return false;
  }
  if (conn_.shutting_down()) co_return shutdown();
  if (lease_lost_) co_return lease_lost_end();
  if (ec) {
    conn_.end_on(ec);
    co_return false;
  }
  co_return true;
}

asio::awaitable<void> Session::release() {
  if (lease_ == Lease::none) {
    lease_reg_.reset();
    co_return;
  }
  if (lease_reg_) lease_reg_->closing();
  ReleaseJob job{user_id_, owner_};
  auto r = co_await store::async_run(ctx_.pool, std::move(job), asio::use_awaitable);
  if (!r)  // no longer renewed, it expires by itself
    event(log::Level::warn, "pop3.lease_release_failed").kv("user", user_).kv("error", r.error().message);
  else
    ctx_.maildrop_waiters.released(user_id_);
  lease_ = Lease::none;
  lease_reg_.reset();
}

// The end of a session whose lease was lost: said once, nothing deleted.
bool Session::lease_lost_end() {
  queue("-ERR [SYS/TEMP] The maildrop lock was lost; nothing was deleted\r\n");
  conn_.end("lease-lost");
  return false;
}

// After the connection's implicit TLS and per-IP checks (services::Connection::run).
asio::awaitable<void> Session::converse() {
  ctx_.stats.pop3_sessions++;
  if (conn_.tls()) proto_.on_tls_started();  // pop3s
  try {
    queue(proto_.greeting());
    co_await flush();
    conn_.command_done();
    bool open = true;
    while (open) {
      auto line = reader_.next();
      if (!line) {
        co_await flush();  // RFC 2449 6.6 (PIPELINING): answer what we have before waiting
        open = co_await fill();
        continue;
      }
      Action a = line->too_long ? proto_.on_line_too_long() : proto_.on_line(line->text);
      conn_.info().set_state(proto_.state_name());
      open = co_await perform(std::move(a));
      conn_.command_done();
      if (conn_.queued() >= kFlushBytes) co_await flush();
    }
    co_await flush();
  } catch (const std::exception& e) {
    // A lost lease cancels the socket: whatever failed then, that is why it ended.
    conn_.end(lease_lost_ ? "lease-lost" : e.what());
  }
}

// A session that ends without QUIT removes nothing (RFC 1939 6); it only gives the
// lease back.
asio::awaitable<void> Session::finish() {
  starts_.clear();
  co_await release();
}

// Carries out one action (and those it leads to). False: close the connection.
asio::awaitable<bool> Session::perform(Action a) {
  for (;;) {
    switch (a.kind) {
      case Action::send:
        queue(a.reply);
        co_return true;
      case Action::close:
        queue(a.reply);
        if (proto_.errors() >= ctx_.cfg.pop3.max_errors) conn_.end("too-many-errors");
        co_return false;
      case Action::authenticate:
        a = co_await authenticate(a.credentials);
        continue;
      case Action::load_maildrop:
        a = co_await load_maildrop();
        continue;
      case Action::start_tls: {
        queue(a.reply);
        co_await flush();
        // RFC 2595 4 / CVE-2011-0411: plaintext sent behind STLS is never executed
        // inside the TLS session.
        bool ok = co_await conn_.upgrade_tls(reader_, "stls_injection");
        if (!ok) co_return false;
        proto_.on_tls_started();
        co_return true;
      }
      case Action::retrieve: {
        Sent sent = co_await retrieve(a);
        if (sent == Sent::ok) co_return true;
        if (sent == Sent::broken) co_return false;
        a = proto_.on_retrieve_failed();
        continue;
      }
      case Action::update:
        a = co_await update(std::move(a.deleted_ids));
        continue;
    }
  }
}

asio::awaitable<Action> Session::authenticate(const auth::Credentials& creds) {
  std::string username = creds.username, password = creds.password;
  auto r = co_await conn_.login(std::move(username), std::move(password));
  if (r.kind == services::LoginOutcome::ok) {
    user_id_ = r.user_id;
    user_ = r.user;
  }
  co_return proto_.on_auth_result(services::auth_outcome<Protocol::AuthOutcome>(r.kind));
}

asio::awaitable<Action> Session::load_maildrop() {
  lease_seconds_ = ctx_.pop3_leases.lease_seconds();
  owner_ = ctx_.pop3_leases.new_owner(conn_.sid());
  // Registered before the lease is taken, so the daemon's renewal neither mistakes
  // it for a lease nobody holds nor misses it.
  lease_reg_.emplace(ctx_.pop3_leases, user_id_, owner_, conn_.executor(), [this] { lease_lost(); });
  // RFC 1939 8 asks for exclusive access; instead of answering [IN-USE] at once, the
  // login waits up to pop3.lock_wait_seconds for the session holding the lease to
  // end (as Dovecot waits for its lock). Registered before the first attempt, so a
  // release between that attempt and the wait is not missed.
  const auto started = Clock::now();
  const auto deadline = started + std::chrono::seconds(ctx_.cfg.pop3.lock_wait_seconds);
  std::optional<services::MaildropWaiters::Registration> waiter;
  if (deadline > started) {
    auto wake = [this] {
      lock_woken_ = true;
      lock_wait_timer_.cancel();
    };
    waiter.emplace(ctx_.maildrop_waiters, user_id_, conn_.executor(), std::move(wake));
  }
  auto r = co_await open_maildrop();
  bool waited = false;
  while (r && r->in_use && Clock::now() < deadline) {
    if (!waited) {
      waited = true;
      event(log::Level::debug, "pop3.lock_wait").kv("user", user_).kv("seconds", ctx_.cfg.pop3.lock_wait_seconds);
      conn_.info().set_state("lock-wait");
      co_await flush();  // the replies before PASS must not wait with it
    }
    LockWait w = co_await wait_for_lease(deadline);
    if (w != LockWait::retry) {
      // Nothing is said to a client that left or was killed; at shutdown the client
      // gets what every other session gets.
      Action end;
      end.kind = Action::close;
      if (w == LockWait::shutdown) {
        end.reply = proto_.shutdown_reply();
        conn_.end("shutdown");
      }
      co_return end;
    }
    r = co_await open_maildrop();
  }
  const auto waited_ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started).count();
  Protocol::MaildropLoad load;
  if (!r) {
    load.kind = Protocol::MaildropLoad::temp_failure;
    // If the commit happened after all, the lease is ours: give it back at the end.
    if (r.error().outcome_unknown) lease_ = Lease::uncertain;
    else lease_reg_.reset();
    event(log::Level::warn, "pop3.maildrop_failed").kv("user", user_).kv("error", r.error().message);
  } else if (r->in_use) {
    lease_reg_.reset();
    load.kind = Protocol::MaildropLoad::in_use;
    event(log::Level::info, "pop3.in_use").kv("user", user_).kv("waited_ms", waited_ms);
  } else {
    load.kind = Protocol::MaildropLoad::ok;
    std::uint64_t octets = 0;
    load.messages.reserve(r->messages.size());
    for (auto& m : r->messages) {
      octets += m.size;
      load.messages.push_back({m.entry_id, m.size, std::move(m.uidl)});
    }
    lease_ = Lease::held;
    lease_reg_->held();
    ctx_.stats.pop3_logins++;
    std::string count = std::to_string(load.messages.size());
    services::Published e(ctx_.stats, log::Level::info, conn_.sid(), "pop3.login");
    e.kv("user", user_).watch("peer", conn_.peer_ip()).kv("messages", count).log("octets", octets);
    if (waited) e.log("waited_ms", waited_ms);
  }
  co_return proto_.on_maildrop_loaded(std::move(load));
}

// One attempt to take the lease and list the maildrop.
asio::awaitable<store::DbResult<store::Maildrop>> Session::open_maildrop() {
  lock_woken_ = false;  // a release from now on calls for another attempt
  OpenJob job{user_id_, owner_, lease_seconds_};
  auto r = co_await store::async_run(ctx_.pool, std::move(job), asio::use_awaitable);
  co_return r;
}

// Waits until the next attempt at the lease is due: one kLockRetry has passed (or
// the deadline has come), or a session of this daemon gave a lease of this user
// back. Meanwhile client input is read and kept for later, so a client that goes
// away ends the wait; the autologout timer does not run.
asio::awaitable<Session::LockWait> Session::wait_for_lease(Clock::time_point deadline) {
  lock_wait_timer_.expires_at(std::min(Clock::now() + kLockRetry, deadline));
  for (;;) {
    if (conn_.shutting_down()) co_return LockWait::shutdown;
    if (conn_.killed()) co_return LockWait::gone;
    if (lock_woken_ || Clock::now() >= lock_wait_timer_.expiry()) co_return LockWait::retry;
    if (reader_.buffered() >= kLockWaitInputBytes) {
      co_await lock_wait_timer_.async_wait(asio::experimental::as_tuple(asio::use_awaitable));
      continue;
    }
    auto tick = lock_wait_timer_.async_wait(asio::experimental::as_tuple(asio::use_awaitable));
    auto input = conn_.stream().socket().async_wait(tcp::socket::wait_read,
                                                    asio::experimental::as_tuple(asio::use_awaitable));
    auto race = std::move(tick) || std::move(input);
    auto res = co_await std::move(race);
    if (res.index() == 0 || conn_.shutting_down() || conn_.killed()) continue;
    auto [wait_ec] = std::get<1>(res);
    if (wait_ec == asio::error::operation_aborted) continue;
    // Readable: input, the end of the connection, or an error; read_some tells which.
    auto limit = std::chrono::duration_cast<std::chrono::milliseconds>(lock_wait_timer_.expiry() - Clock::now());
    std::error_code ec;
    co_await conn_.read(reader_, std::max(limit, std::chrono::milliseconds(1)), ec);
    if (ec == asio::error::timed_out || conn_.shutting_down() || conn_.killed()) continue;
    if (ec) {
      conn_.end_on(ec);
      co_return LockWait::gone;
    }
  }
}

// RFC 1939 7 (RETR, TOP): the Return-Path line and the stored body, byte-stuffed,
// chunk by chunk: memory stays bounded by one chunk and the output buffer.
asio::awaitable<Session::Sent> Session::retrieve(const Action& a) {
  auto r = co_await message_start(a);
  if (!r || !r->found) {
    log::Event e = event(log::Level::warn, "pop3.retrieve_failed");
    e.kv("user", user_).kv("entry", a.message_id);
    if (!r) e.kv("error", r.error().message);
    else e.kv("error", "message no longer stored");
    co_return Sent::unreadable;
  }
  queue(a.reply);
  mail::DotStuffer stuffer(a.top_lines);
  std::uint64_t sent = 0;
  std::string& out = conn_.output();
  auto feed = [&](std::string_view bytes) {
    std::size_t before = out.size();
    stuffer.feed(bytes, out);
    sent += out.size() - before;
  };
  feed(mail::return_path_header(r->envelope_from));
  feed(r->first_chunk);
  r->first_chunk = std::string();
  for (std::uint32_t seq = 1; seq < r->chunk_count && !stuffer.done(); ++seq) {
    if (out.size() >= kFlushBytes) co_await flush();
    ChunkJob cj{r->message_id, seq};
    auto chunk = co_await store::async_run(ctx_.pool, std::move(cj), asio::use_awaitable);
    if (!chunk) {
      // Part of the response is on its way: nothing more can be said (RFC 1939 has
      // no way to abort a multi-line response), so the connection ends.
      event(log::Level::error, "pop3.retrieve_broken").kv("user", user_).kv("entry", a.message_id).kv("error",
                                                                                                   chunk.error().message);
      out.clear();
      conn_.end("retrieve-failed");
      co_return Sent::broken;
    }
    feed(*chunk);
  }
  std::size_t before = out.size();
  stuffer.finish(out);
  sent += out.size() - before;
  ctx_.stats.pop3_retrievals++;
  ctx_.stats.pop3_bytes_sent += sent;
  services::Published(ctx_.stats, log::Level::debug, conn_.sid(), "pop3.retrieve", a.top_lines < 0 ? "pop3.retrieved" : "pop3.top")
      .watch("user", user_)
      .log("entry", a.message_id)
      .watch("message", a.message + 1)
      .log("top", a.top_lines)
      .kv("octets", sent);
  co_return Sent::ok;
}

// The start of the message of a retrieve action: from the read-ahead, else read in
// one round trip with the starts of the live messages that follow it. Bodies never
// change and the lease keeps the maildrop ours, so a cached start stays true; an
// entry gone from the database is not cached and is reported when it is asked for.
asio::awaitable<store::DbResult<store::MessageStart>> Session::message_start(const Action& a) {
  if (auto it = starts_.find(a.message_id); it != starts_.end()) {
    store::MessageStart s = std::move(it->second);
    starts_.erase(it);
    co_return s;
  }
  // A miss: the client left the order the read-ahead guessed, and what is cached may
  // never be asked for; drop it, so the cache holds one read-ahead at most.
  starts_.clear();
  std::vector<std::uint64_t> ids = read_ahead(a.message);
  StartsJob job{user_id_, ids};
  auto r = co_await store::async_run(ctx_.pool, std::move(job), asio::use_awaitable);
  if (!r) co_return unexpected(std::move(r.error()));
  for (std::size_t i = 1; i < ids.size(); ++i)
    if ((*r)[i].found) starts_.emplace(ids[i], std::move((*r)[i]));
  co_return std::move(r->front());
}

// The entries read with message `index`: it, then the next ones of the snapshot not
// marked deleted, while they fit in kReadAheadEntries and kReadAheadBytes.
std::vector<std::uint64_t> Session::read_ahead(std::size_t index) const {
  const auto& snap = proto_.snapshot();
  // A first chunk is at most one chunk and at most the size (which also counts the
  // Return-Path line), so this bounds what a read-ahead brings.
  auto first_chunk = [](const MaildropEntry& m) { return std::min<std::uint64_t>(m.size, store::kChunkBytes); };
  std::vector<std::uint64_t> ids{snap[index].id};
  std::uint64_t bytes = first_chunk(snap[index]);
  for (std::size_t i = index + 1; i < snap.size() && ids.size() < kReadAheadEntries; ++i) {
    if (proto_.marked_deleted(i)) continue;
    bytes += first_chunk(snap[i]);
    if (bytes > kReadAheadBytes) break;
    ids.push_back(snap[i].id);
  }
  return ids;
}

// RFC 1939 6: the UPDATE state, entered only through QUIT.
asio::awaitable<Action> Session::update(std::vector<std::uint64_t> ids) {
  starts_.clear();
  if (lease_ != Lease::held) {
    event(log::Level::warn, "pop3.update_refused").kv("user", user_).kv("reason", "mailbox lock lost");
    co_return proto_.on_update_done(ids.empty());
  }
  std::size_t marked = ids.size();
  lease_reg_->closing();  // released in the same transaction
  UpdateJob job{user_id_, owner_, std::move(ids)};
  auto r = co_await store::async_run(ctx_.pool, std::move(job), asio::use_awaitable);
  if (!r) {
    event(log::Level::error, "pop3.update_failed").kv("user", user_).kv("error", r.error().message);
    if (r.error().outcome_unknown) lease_ = Lease::uncertain;
    co_return proto_.on_update_done(false);
  }
  if (r->lease_lost) {
    lease_ = Lease::none;
    lease_reg_.reset();
    event(log::Level::warn, "pop3.update_refused").kv("user", user_).kv("reason", "mailbox lock lost");
    co_return proto_.on_update_done(marked == 0);
  }
  lease_ = Lease::none;  // released in the same transaction
  lease_reg_.reset();
  ctx_.maildrop_waiters.released(user_id_);
  ctx_.stats.pop3_deletions += r->entries_deleted;
  services::Published(ctx_.stats, log::Level::info, conn_.sid(), "pop3.update", "pop3.quit")
      .kv("user", user_)
      .kv("deleted", r->entries_deleted)
      .log("bodies_deleted", r->bodies_deleted);
  co_return proto_.on_update_done(true);
}

}  // namespace

asio::awaitable<void> run_session(tcp::socket sock, bool implicit_tls, std::string sid, services::ServerContext& ctx,
                                  net::ConnectionCaps::Slot slot) {
  auto session = std::make_unique<Session>(std::move(sock), implicit_tls, std::move(sid), ctx);
  co_await session->connection().run(*session, std::move(slot));
}

}  // namespace shicks::pop3
