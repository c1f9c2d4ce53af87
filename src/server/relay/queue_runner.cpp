#include "server/relay/queue_runner.hpp"

#include <unistd.h>

#include <algorithm>
#include <ctime>
#include <filesystem>
#include <random>

#include <asio/experimental/as_tuple.hpp>
#include <asio/post.hpp>
#include <asio/use_awaitable.hpp>
#include <fmt/core.h>

#include "common/instance.hpp"
#include "common/log.hpp"
#include "server/services/context.hpp"
#include "server/net/spawn.hpp"
#include "server/relay/backoff.hpp"
#include "server/relay/dsn.hpp"
#include "server/relay/plan.hpp"
#include "server/store/mail_store.hpp"
#include "server/store/relay_store.hpp"

namespace shicks::relay {
using store::relay::QueuedRecipient;
namespace exp = asio::experimental;
using Clock = std::chrono::steady_clock;

namespace {

std::string random_token() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return fmt::format("{:016x}", rng());
}

// ---- DB jobs (named types: nothing is built inside a co_await)

struct ReleaseOwnerJob {
  std::string prefix;
  std::uint64_t operator()(store::Connection& c) const { return store::relay::release_owner_prefix(c, prefix); }
};

struct Claimed {
  std::vector<QueuedRecipient> rows;
  std::optional<std::int64_t> next_due_ms;  // when rows is empty
};
struct ClaimJob {
  std::string owner;
  Claimed operator()(store::Connection& c) const {
    Claimed r;
    r.rows = store::relay::claim_due(c, owner, QueueRunner::kLeaseSeconds, QueueRunner::kBatchRows);
    if (r.rows.empty()) r.next_due_ms = store::relay::ms_until_due(c);
    return r;
  }
};

struct ReleaseJob {
  std::string owner;
  std::vector<std::uint64_t> ids;
  void operator()(store::Connection& c) const { store::relay::release(c, owner, ids); }
};

// The DSN into the sender's mailbox when the sender is a local address. Returns what
// happened, for the log.
std::string deliver_dsn(store::Connection& c, const DsnPlan& dsn, std::uint64_t message_id) {
  const std::string& sender = dsn.input.original_sender;
  auto targets = store::lookup_address(c, sender, dsn.domain);
  if (targets.kind != store::AddressTargets::local || targets.user_ids.empty()) return "none (sender not local)";
  DsnInput in = dsn.input;
  in.original_headers = header_section(store::relay::read_chunk(c, message_id, 0));
  Dsn composed = compose_dsn(in);
  store::Delivery d;
  d.envelope_from = "";  // RFC 5321 4.5.5: a DSN has the null sender
  d.local_users = targets.user_ids;
  d.message = std::move(composed.message);
  d.header_from = composed.from;
  d.subject = composed.subject;
  d.queue_id = "dsn-" + in.unique;
  store::deliver(c, d);
  return "delivered";
}

// One message's plan, written under our lease; returns the events to log.
struct RecordJob {
  std::string owner;
  std::uint64_t message_id = 0;
  Plan plan;
  std::vector<Event> operator()(store::Connection& c) const {
    Written w = write(c);
    return report(plan, w);
  }
  Written write(store::Connection& c) const {
    Written w;
    if (!plan.deferred.empty()) {
      std::vector<store::relay::Deferral> rows;
      for (const auto& d : plan.deferred) rows.push_back(store::relay::Deferral{d.id, d.delay_seconds, d.error});
      w.flushed = store::relay::defer(c, owner, rows);
    }
    if (!plan.done.empty()) store::relay::remove(c, owner, message_id, plan.done);
    if (plan.bounced.empty()) return w;
    // The DSN first: should the removal fail, the DSN may come twice, never not at all.
    if (plan.dsn) w.dsn = deliver_dsn(c, *plan.dsn, message_id);
    store::relay::remove(c, owner, message_id, plan.bounced);
    return w;
  }
};

struct MessageWork {
  std::uint64_t message_id = 0;
  std::string sender;
  std::uint64_t size = 0;
  std::uint64_t chunk_count = 0;
  std::int64_t queued_unix = 0;
  std::vector<QueueRow> rows;
};

std::vector<MessageWork> by_message(std::vector<QueuedRecipient> rows) {
  std::vector<MessageWork> out;
  for (auto& q : rows) {
    if (out.empty() || out.back().message_id != q.message_id) {
      MessageWork m;
      m.message_id = q.message_id;
      m.sender = q.sender;
      m.size = q.size;
      m.chunk_count = q.chunk_count;
      m.queued_unix = q.queued_unix;
      out.push_back(std::move(m));
    }
    out.back().rows.push_back(QueueRow{q.id, std::move(q.recipient), q.attempts, q.age_seconds});
  }
  return out;
}

void log_event(services::ServerContext& ctx, const MessageWork& msg, const RelaySettings& s, const Event& e) {
  const std::string mid = std::to_string(msg.message_id);
  switch (e.kind) {
    case Event::sent:
      ctx.stats.relay_sent++;
      services::Published(ctx.stats, log::Level::info, "", "relay.sent")
          .log("message_id", msg.message_id).watch("message", mid).log("from", msg.sender).kv("rcpt", e.rcpt)
          .log("relay", s.host).log("reply", e.detail);
      break;
    case Event::deferred: {
      ctx.stats.relay_deferred++;
      services::Published ev(ctx.stats, log::Level::info, "", "relay.deferred");
      ev.log("message_id", msg.message_id).watch("message", mid).log("from", msg.sender).kv("rcpt", e.rcpt)
          .kv("retry_in", std::to_string(e.retry_in));
      if (e.flushed) ev.log("flushed", "yes");
      ev.kv("error", e.detail);
      break;
    }
    case Event::bounced:
      ctx.stats.relay_bounced++;
      services::Published(ctx.stats, log::Level::warn, "", "relay.bounced")
          .log("message_id", msg.message_id).watch("message", mid).log("from", msg.sender).kv("rcpt", e.rcpt)
          .kv("status", e.status).log("error", e.detail).kv("dsn", e.dsn);
      break;
  }
}

// Plans what one message's results leave behind (plan.hpp), writes it, then logs and counts.
asio::awaitable<void> record(services::ServerContext& ctx, const std::string& owner, bool stopping, const MessageWork& msg,
                             std::vector<RecipientResult> results, const RelaySettings& s,
                             const RetryPolicy& policy) {
  Attempt attempt;
  attempt.sender = msg.sender;
  attempt.arrival = std::time_t(msg.queued_unix);
  attempt.rows = msg.rows;
  attempt.results = std::move(results);
  attempt.stopping = stopping;
  DsnOrigin origin{ctx.cfg.server.hostname, s.host, random_token()};
  RecordJob job{owner, msg.message_id, plan(attempt, policy, origin, std::time(nullptr))};
  if (!job.plan.release.empty()) {
    ReleaseJob release{owner, job.plan.release};
    auto rel = co_await store::async_run(ctx.pool, std::move(release), asio::use_awaitable);
    if (!rel) log::warn("relay.release_failed").kv("message_id", msg.message_id).kv("error", rel.error().message);
  }
  if (!job.plan.records()) co_return;
  auto res = co_await store::async_run(ctx.pool, std::move(job), asio::use_awaitable);
  if (!res) {
    // The lease runs out and the recipients are tried again: at-least-once.
    log::error("relay.record_failed").kv("message_id", msg.message_id).kv("error", res.error().message);
    co_return;
  }
  for (const Event& e : *res) log_event(ctx, msg, s, e);
}

}  // namespace

RelaySettings current_settings(const services::SettingsCache& settings, const std::string& helo_name) {
  RelaySettings s;
  s.host = settings.get(config::setting::relay_host);
  s.port = settings.get(config::setting::relay_port);
  s.tls = parse_tls_mode(settings.get(config::setting::relay_tls));
  s.verify = settings.get(config::setting::relay_tls_verify);
  s.username = settings.get(config::setting::relay_username);
  s.password = settings.get(config::setting::relay_password);
  s.allow_plaintext_auth = settings.get(config::setting::relay_allow_plaintext_auth);
  s.helo_name = helo_name;
  return s;
}

struct QueueRunner::Batch {
  std::vector<QueuedRecipient> rows;
};

QueueRunner::QueueRunner(services::ServerContext& ctx)
    : ctx_(ctx), strand_(asio::make_strand(ctx.io)), timer_(strand_) {
  owner_prefix_ = instance_prefix(ctx.cfg.server.control_socket);
  owner_ = owner_prefix_ + std::to_string(::getpid());
}

QueueRunner::~QueueRunner() = default;

void QueueRunner::start() { net::spawn(strand_, run(), "relay.runner"); }

void QueueRunner::wake() {
  asio::post(strand_, [this] {
    woken_ = true;
    timer_.cancel();
  });
}

void QueueRunner::stop() {
  asio::post(strand_, [this] {
    stopping_ = true;
    timer_.cancel();
    if (active_) active_->close();
  });
}

asio::awaitable<void> QueueRunner::run() {
  // Leases of this daemon's earlier run are void: that process sends nothing now.
  ReleaseOwnerJob own{owner_prefix_};
  auto released = co_await store::async_run(ctx_.pool, std::move(own), asio::use_awaitable);
  if (released && *released > 0) log::info("relay.claims_released").kv("owner", owner_prefix_).kv("rows", *released);
  log::info("relay.runner_started").kv("owner", owner_);
  while (!stopping_) {
    auto sleep = std::chrono::milliseconds(kPollSeconds * 1000);
    woken_ = false;
    if (!ctx_.settings.get(config::setting::relay_host).empty()) {
      ClaimJob job{owner_};
      auto claimed = co_await store::async_run(ctx_.pool, std::move(job), asio::use_awaitable);
      if (!claimed) {
        log::warn("relay.claim_failed").kv("error", claimed.error().message);
        sleep = std::chrono::seconds(5);
      } else if (!claimed->rows.empty()) {
        Batch batch{std::move(claimed->rows)};
        co_await deliver(std::move(batch));
        continue;
      } else if (claimed->next_due_ms) {
        sleep = std::chrono::milliseconds(std::clamp<std::int64_t>(*claimed->next_due_ms, 200, kPollSeconds * 1000));
      }
    }
    if (stopping_) break;
    if (woken_) continue;
    timer_.expires_after(sleep);
    co_await timer_.async_wait(exp::as_tuple(asio::use_awaitable));
  }
  log::info("relay.runner_stopped").kv("owner", owner_);
}

asio::awaitable<void> QueueRunner::deliver(Batch batch) {
  RelaySettings s = current_settings(ctx_.settings, ctx_.cfg.server.hostname);
  RetryPolicy policy;
  policy.initial_seconds = ctx_.settings.get(config::setting::relay_retry_initial_seconds);
  policy.max_seconds = ctx_.settings.get(config::setting::relay_retry_max_seconds);
  policy.lifetime_seconds = ctx_.settings.get(config::setting::relay_max_lifetime_seconds);
  auto work = by_message(std::move(batch.rows));
  // Nothing may still be sending when the lease runs out (another runner may then
  // take the rows): the session's deadline comes two minutes earlier.
  auto deadline = Clock::now() + std::chrono::seconds(kLeaseSeconds - 120);
  SmtpSession session(strand_, s, deadline);
  active_ = &session;
  bool open = co_await session.open();
  if (!open && !stopping_)
    log::warn("relay.session_failed").kv("relay", s.host).kv("port", s.port).kv("error", session.error());
  for (std::size_t i = 0; i < work.size(); ++i) {
    const MessageWork& msg = work[i];
    std::vector<RecipientResult> results;
    if (!open) {
      results = unreachable(msg.rows, session.error());
    } else if (stopping_ || !session.usable() || deadline - Clock::now() < std::chrono::seconds(60)) {
      // Give the rest back untouched; the loop claims it again (with a new connection).
      ReleaseJob release{owner_, {}};
      for (std::size_t j = i; j < work.size(); ++j)
        for (const auto& q : work[j].rows) release.ids.push_back(q.id);
      auto rel = co_await store::async_run(ctx_.pool, std::move(release), asio::use_awaitable);
      if (!rel) log::warn("relay.release_failed").kv("error", rel.error().message);
      break;
    } else {
      Envelope env;
      env.sender = msg.sender;
      env.size = msg.size;
      for (const auto& q : msg.rows) env.recipients.push_back(q.recipient);
      results = co_await session.send(env, ctx_.pool, msg.message_id, msg.chunk_count);
    }
    co_await record(ctx_, owner_, stopping_, msg, std::move(results), s, policy);
  }
  co_await session.quit();
  active_ = nullptr;
}

}  // namespace shicks::relay
