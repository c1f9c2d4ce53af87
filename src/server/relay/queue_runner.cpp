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

// A DSN into the sender's mailbox when the sender is a local address; never for the
// null sender. Returns what happened, for the log.
std::string deliver_dsn(store::Connection& c, const DsnInput& tmpl, std::uint64_t message_id) {
  const std::string& sender = tmpl.original_sender;
  if (sender.empty()) return "none (null sender)";
  auto at = sender.rfind('@');
  if (at == std::string::npos) return "none (sender not local)";
  auto targets = store::lookup_address(c, sender, sender.substr(at + 1));
  if (targets.kind != store::AddressTargets::local || targets.user_ids.empty()) return "none (sender not local)";
  DsnInput in = tmpl;
  in.original_headers = header_section(store::relay::read_chunk(c, message_id, 0));
  Dsn dsn = compose_dsn(in);
  store::Delivery d;
  d.envelope_from = "";  // RFC 5321 4.5.5: a DSN has the null sender
  d.local_users = targets.user_ids;
  d.message = std::move(dsn.message);
  d.header_from = dsn.from;
  d.subject = dsn.subject;
  d.queue_id = "dsn-" + in.unique;
  store::deliver(c, d);
  return "delivered";
}

// What recording one message's results did.
struct Recorded {
  std::string dsn;                      // what became of the DSN, when there was one
  std::vector<std::uint64_t> flushed;   // deferred rows due again at once (queue flush during the attempt)
};

// The results of one message, written under our lease.
struct RecordJob {
  std::string owner;
  std::uint64_t message_id = 0;
  std::vector<std::uint64_t> done;
  std::vector<store::relay::Deferral> deferred;
  std::vector<std::uint64_t> bounced;
  DsnInput dsn;  // recipients: the bounced ones
  Recorded operator()(store::Connection& c) const {
    Recorded r;
    if (!deferred.empty()) r.flushed = store::relay::defer(c, owner, deferred);
    if (!done.empty()) store::relay::remove(c, owner, message_id, done);
    if (bounced.empty()) return r;
    // The DSN first: should the removal fail, the DSN may come twice, never not at all.
    r.dsn = deliver_dsn(c, dsn, message_id);
    store::relay::remove(c, owner, message_id, bounced);
    return r;
  }
};

struct MessageWork {
  std::uint64_t message_id = 0;
  std::string sender;
  std::uint64_t size = 0;
  std::uint64_t chunk_count = 0;
  std::int64_t queued_unix = 0;
  std::vector<QueuedRecipient> rows;
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
    out.back().rows.push_back(std::move(q));
  }
  return out;
}

struct Logged {
  enum Kind { sent, deferred, bounced } kind;
  std::string rcpt;
  std::string detail;  // the reply or error
  std::string extra;   // deferred: seconds until the retry; bounced: status
  std::uint64_t row = 0;
};

// Turns one message's results into a RecordJob, runs it, then logs and counts.
asio::awaitable<void> record(services::ServerContext& ctx, const std::string& owner, bool stopping, const MessageWork& msg,
                             const std::vector<RecipientResult>& results, const RelaySettings& s,
                             const RetryPolicy& policy) {
  RecordJob job;
  job.owner = owner;
  job.message_id = msg.message_id;
  job.dsn.reporting_mta = ctx.cfg.server.hostname;
  job.dsn.remote_mta = s.host;
  job.dsn.original_sender = msg.sender;
  job.dsn.arrival = std::time_t(msg.queued_unix);
  job.dsn.now = std::time(nullptr);
  job.dsn.unique = random_token();
  ReleaseJob release{owner, {}};
  std::vector<Logged> logged;
  for (std::size_t i = 0; i < msg.rows.size() && i < results.size(); ++i) {
    const QueuedRecipient& row = msg.rows[i];
    const RecipientResult& r = results[i];
    if (r.outcome == Outcome::delivered) {
      job.done.push_back(row.id);
      logged.push_back({Logged::sent, row.recipient, r.diagnostic, ""});
    } else if (r.outcome == Outcome::permanent) {
      job.bounced.push_back(row.id);
      job.dsn.recipients.push_back(FailedRecipient{row.recipient, r.status, r.diagnostic, r.remote});
      logged.push_back({Logged::bounced, row.recipient, r.diagnostic, r.status});
    } else if (stopping && !r.remote) {
      release.ids.push_back(row.id);  // cut short by shutdown: no attempt to count
    } else {
      auto d = after_temporary_failure(policy, row.attempts + 1, row.age_seconds);
      if (d.give_up) {
        std::string status = r.status.empty() ? "4.4.7" : r.status;
        std::string why = "delivery time expired; last error: " + r.diagnostic;
        job.bounced.push_back(row.id);
        job.dsn.expired = true;
        job.dsn.recipients.push_back(FailedRecipient{row.recipient, status, why, false});
        logged.push_back({Logged::bounced, row.recipient, why, status});
      } else {
        job.deferred.push_back(store::relay::Deferral{row.id, d.delay_seconds, r.diagnostic});
        logged.push_back({Logged::deferred, row.recipient, r.diagnostic, std::to_string(d.delay_seconds), row.id});
      }
    }
  }
  if (!release.ids.empty()) {
    auto rel = co_await store::async_run(ctx.pool, std::move(release), asio::use_awaitable);
    if (!rel) log::warn("relay.release_failed").kv("message_id", msg.message_id).kv("error", rel.error().message);
  }
  if (job.done.empty() && job.deferred.empty() && job.bounced.empty()) co_return;
  auto res = co_await store::async_run(ctx.pool, std::move(job), asio::use_awaitable);
  if (!res) {
    // The lease runs out and the recipients are tried again: at-least-once.
    log::error("relay.record_failed").kv("message_id", msg.message_id).kv("error", res.error().message);
    co_return;
  }
  const std::string mid = std::to_string(msg.message_id);
  for (const auto& l : logged) {
    switch (l.kind) {
      case Logged::sent:
        ctx.stats.relay_sent++;
        services::Published(ctx.stats, log::Level::info, "", "relay.sent")
            .log("message_id", msg.message_id).watch("message", mid).log("from", msg.sender).kv("rcpt", l.rcpt)
            .log("relay", s.host).log("reply", l.detail);
        break;
      case Logged::deferred: {
        ctx.stats.relay_deferred++;
        bool flushed = std::find(res->flushed.begin(), res->flushed.end(), l.row) != res->flushed.end();
        std::string retry_in = flushed ? "0" : l.extra;
        services::Published ev(ctx.stats, log::Level::info, "", "relay.deferred");
        ev.log("message_id", msg.message_id).watch("message", mid).log("from", msg.sender).kv("rcpt", l.rcpt)
            .kv("retry_in", retry_in);
        if (flushed) ev.log("flushed", "yes");  // queue flush during the attempt: retried at once
        ev.kv("error", l.detail);
        break;
      }
      case Logged::bounced:
        ctx.stats.relay_bounced++;
        services::Published(ctx.stats, log::Level::warn, "", "relay.bounced")
            .log("message_id", msg.message_id).watch("message", mid).log("from", msg.sender).kv("rcpt", l.rcpt)
            .kv("status", l.extra).log("error", l.detail).kv("dsn", res->dsn);
        break;
    }
  }
}

}  // namespace

RelaySettings current_settings(const services::SettingsCache& settings, const std::string& helo_name) {
  RelaySettings s;
  s.host = settings.get("relay.host");
  s.port = settings.number("relay.port");
  s.tls = parse_tls_mode(settings.get("relay.tls"));
  s.verify = !(settings.get("relay.tls_verify") == "false");
  s.username = settings.get("relay.username");
  s.password = settings.get("relay.password");
  s.allow_plaintext_auth = settings.get("relay.allow_plaintext_auth") == "true";
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
    if (!ctx_.settings.get("relay.host").empty()) {
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
  policy.initial_seconds = ctx_.settings.number("relay.retry_initial_seconds");
  policy.max_seconds = ctx_.settings.number("relay.retry_max_seconds");
  policy.lifetime_seconds = ctx_.settings.number("relay.max_lifetime_seconds");
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
      for (const auto& q : msg.rows)
        results.push_back(RecipientResult{q.recipient, Outcome::temporary, "4.4.1", session.error(), false});
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
    co_await record(ctx_, owner_, stopping_, msg, results, s, policy);
  }
  co_await session.quit();
  active_ = nullptr;
}

}  // namespace shicks::relay
