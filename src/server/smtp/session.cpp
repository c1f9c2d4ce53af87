#include "server/smtp/session.hpp"

#include <atomic>
#include <chrono>
#include <ctime>

#include <asio/use_awaitable.hpp>
#include <fmt/core.h>

#include "common/log.hpp"
#include "common/netaddr.hpp"
#include "server/services/connection.hpp"
#include "server/spam/tag.hpp"
#include "server/smtp/data_decoder.hpp"
#include "server/mail/line_reader.hpp"
#include "server/mail/trace.hpp"
#include "server/store/mail_store.hpp"

namespace shicks::smtp {
using asio::ip::tcp;

namespace {

const char* listener_name(Listener l) {
  switch (l) {
    case Listener::mx: return "smtp";
    case Listener::submission: return "submission";
    case Listener::smtps: return "smtps";
  }
  return "smtp";
}

std::string new_queue_id() {
  static std::atomic<std::uint32_t> counter{0};
  return fmt::format("{:08X}{:05X}", std::uint32_t(std::time(nullptr)), counter++ & 0xFFFFF);
}

struct LookupJob {
  std::string address, domain;
  services::AddressCache* cache;
  std::uint64_t epoch;  // of the cache before the database is asked
  store::AddressTargets operator()(store::Connection& c) const {
    auto t = store::lookup_address(c, address, domain);
    cache->remember(address, t, epoch);
    return t;
  }
};

struct SenderJob {
  std::string user, address, domain;
  bool operator()(store::Connection& c) const { return store::sender_owned(c, user, address, domain); }
};

services::Connection::Kind connection_kind(Listener listener, const services::ServerContext& ctx) {
  Reply busy(421, "4.7.0", fmt::format("{} Error: too many connections from your address", ctx.cfg.server.hostname));
  // A client that does not take our replies within the command timeout is gone.
  return {"smtp", listener_name(listener), listener == Listener::smtps, &ctx.limiter, busy.render(),
          std::chrono::seconds(ctx.cfg.smtp.command_timeout_seconds)};
}

class Session final : public services::Conversation {
 public:
  Session(tcp::socket sock, Listener listener, std::string sid, services::ServerContext& ctx)
      : ctx_(ctx),
        listener_(listener),
        conn_(std::move(sock), ctx, std::move(sid), connection_kind(listener, ctx)),
        reader_(std::size_t(ctx.cfg.smtp.max_line_bytes)),
        proto_(make_policy()) {}

  services::Connection& connection() { return conn_; }
  asio::awaitable<void> converse() override;
  unsigned errors() const override { return proto_.errors(); }

 private:
  Policy make_policy() {
    Policy p;
    p.hostname = ctx_.cfg.server.hostname;
    p.listener = listener_;
    p.tls_available = ctx_.tls != nullptr;
    p.tls_active = false;  // smtps: set after the handshake, in converse()
    if (auto ip = IpAddress::parse(conn_.peer_ip())) {
      p.peer_loopback = ip->is_loopback();
      for (const auto& n : ctx_.cfg.smtp.trusted_networks)
        if (n.contains(*ip)) p.peer_trusted = true;
    }
    p.plaintext_auth_on_loopback = ctx_.settings.get(config::setting::auth_allow_plaintext_on_loopback);
    p.relay_configured = !ctx_.settings.get(config::setting::relay_host).empty();
    p.sender_must_match_auth = ctx_.settings.get(config::setting::smtp_sender_must_match_auth);
    p.submission_bare_lf_normalise = ctx_.settings.get(config::setting::smtp_submission_bare_lf) != "reject";
    p.max_message_size = ctx_.cfg.smtp.max_message_size_bytes;
    p.max_recipients = ctx_.cfg.smtp.max_recipients;
    p.max_errors = ctx_.cfg.smtp.max_errors;
    return p;
  }

  log::Event event(log::Level lvl, std::string_view name) { return log::Event(lvl, conn_.sid(), name); }

  void queue(const Reply& r) { conn_.queue(r.render()); }
  asio::awaitable<void> flush() { return conn_.flush(); }

  // A message under DATA: when it began and how much of it has come.
  struct DataProgress {
    services::Connection::Clock::time_point started;
    std::uint64_t received;
  };
  // Reads more input: the next command, or (with `data`) more of a message. False:
  // the connection is done (the end reason is set).
  asio::awaitable<bool> fill(const DataProgress* data = nullptr);
  asio::awaitable<bool> perform(Action a);                  // false: close the session
  // nullopt: the connection ended while reading (fill() has said why).
  asio::awaitable<std::optional<Action>> read_message(BareLf bare_lf);
  asio::awaitable<Action> authenticate(const auth::Credentials& c);
  asio::awaitable<Action> deliver();

  services::ServerContext& ctx_;
  Listener listener_;
  services::Connection conn_;  // before proto_: make_policy() reads the peer
  mail::LineReader reader_;
  Protocol proto_;
  std::string body_;  // the message being received (bounded by the size limit)
};

asio::awaitable<bool> Session::fill(const DataProgress* data) {
  conn_.info().set_state(proto_.state_name());
  if (conn_.shutting_down()) {
    queue(proto_.shutdown_reply());
    conn_.end("shutdown");
    co_return false;
  }
  std::error_code ec;
  if (data) {
    const auto limit = std::chrono::seconds(ctx_.cfg.smtp.data_timeout_seconds);
    co_await conn_.read_data(reader_, data->started, data->received, limit, ec);
  } else {
    co_await conn_.read_command(reader_, std::chrono::seconds(ctx_.cfg.smtp.command_timeout_seconds), ec);
  }
  if (ec == asio::error::timed_out) {
    queue(proto_.timeout_reply());
    conn_.end(conn_.stress_timed_out() ? "stress-timeout" : "timeout");
    co_return false;
  }
  if (conn_.shutting_down()) {
    queue(proto_.shutdown_reply());
    conn_.end("shutdown");
    co_return false;
  }
  if (ec) {
    conn_.end_on(ec);
    co_return false;
  }
  co_return true;
}

// After the connection's implicit TLS and per-IP checks (services::Connection::run).
asio::awaitable<void> Session::converse() {
  if (conn_.tls()) proto_.on_tls_started();  // smtps
  queue(proto_.greeting());
  co_await flush();
  conn_.command_done();
  bool open = true;
  while (open) {
    auto line = reader_.next();
    if (!line) {
      co_await flush();  // RFC 2920: replies go out before we wait for more input
      open = co_await fill();
      continue;
    }
    Action a = line->too_long ? proto_.on_line_too_long() : proto_.on_line(line->text);
    conn_.info().set_state(proto_.state_name());
    open = co_await perform(std::move(a));
    conn_.command_done();
  }
  co_await flush();
}

// Carries out one action (and those it leads to). False: close the connection.
asio::awaitable<bool> Session::perform(Action a) {
  for (;;) {
    switch (a.kind) {
      case Action::send:
        if (a.reply.code >= 500)
          event(log::Level::debug, "smtp.reply").kv("code", a.reply.code).kv("status", a.reply.status);
        queue(a.reply);
        co_return true;
      case Action::close:
        queue(a.reply);
        conn_.end(close_reason_name(a.close_reason));
        co_return false;
      case Action::sasl_continue:
        queue(a.reply);
        co_return true;
      case Action::lookup_recipient: {
        store::DbResult<store::AddressTargets> r = store::AddressTargets{};
        if (auto known = ctx_.addresses.find(a.mailbox.str())) {
          r = std::move(*known);
        } else {
          LookupJob job{a.mailbox.str(), a.mailbox.domain, &ctx_.addresses, ctx_.addresses.epoch()};
          auto asked = co_await store::async_run(ctx_.pool, std::move(job), asio::use_awaitable);
          r = std::move(asked);
        }
        RecipientLookup lookup;
        if (!r) {
          lookup.kind = RecipientLookup::temp_failure;
          event(log::Level::warn, "smtp.lookup_failed").kv("error", r.error().message);
        } else {
          switch (r->kind) {
            case store::AddressTargets::local: lookup.kind = RecipientLookup::local; break;
            case store::AddressTargets::unknown_local: lookup.kind = RecipientLookup::unknown_local; break;
            case store::AddressTargets::disabled: lookup.kind = RecipientLookup::disabled; break;
            case store::AddressTargets::foreign: lookup.kind = RecipientLookup::foreign; break;
          }
          lookup.user_ids = r->user_ids;
        }
        std::string rcpt = a.mailbox.str();
        a = proto_.on_recipient(lookup);
        if (a.kind == Action::send && a.reply.permanent()) {
          ctx_.stats.smtp_recipients_rejected++;
          event(log::Level::info, "smtp.rcpt_rejected").kv("rcpt", rcpt).kv("status", a.reply.status);
        }
        continue;
      }
      case Action::check_sender: {
        SenderJob job{proto_.authenticated_user(), a.mailbox.str(), a.mailbox.domain};
        auto r = co_await store::async_run(ctx_.pool, std::move(job), asio::use_awaitable);
        a = r ? proto_.on_sender_checked(*r, false) : proto_.on_sender_checked(false, true);
        continue;
      }
      case Action::authenticate: {
        a = co_await authenticate(a.credentials);
        continue;
      }
      case Action::start_tls: {
        queue(a.reply);
        co_await flush();
        // RFC 3207 5 / CVE-2011-0411: plaintext sent behind STARTTLS must never be
        // executed inside the TLS session.
        bool ok = co_await conn_.upgrade_tls(reader_, "starttls_injection");
        if (!ok) co_return false;
        proto_.on_tls_started();
        co_return true;
      }
      case Action::read_data: {
        queue(a.reply);
        co_await flush();
        const BareLf bare_lf = a.bare_lf;
        auto next = co_await read_message(bare_lf);
        if (!next) co_return false;  // the connection ended mid-DATA
        a = std::move(*next);
        continue;
      }
      case Action::deliver: {
        a = co_await deliver();
        continue;
      }
    }
  }
}

asio::awaitable<std::optional<Action>> Session::read_message(BareLf bare_lf) {
  DataDecoder decoder(ctx_.cfg.smtp.max_message_size_bytes, bare_lf);
  body_.clear();
  std::string pending = reader_.take();
  DataProgress progress{services::Connection::Clock::now(), 0};
  for (;;) {
    std::size_t used = decoder.feed(pending, body_);
    if (decoder.done()) {
      reader_.feed(std::string_view(pending).substr(used));  // pipelined commands after the dot
      break;
    }
    progress.received += pending.size();
    bool more = co_await fill(&progress);
    if (!more) co_return std::nullopt;
    pending = reader_.take();
  }
  ctx_.stats.smtp_bytes_received += decoder.size();
  Protocol::DataOutcome d;
  d.bare_line_ending = decoder.bare_line_ending();
  d.nul = decoder.nul();
  d.too_big = decoder.too_big();
  d.size = decoder.size();
  if (d.bare_line_ending || d.nul || d.too_big) {
    ctx_.stats.smtp_messages_rejected++;
    const char* reason = d.bare_line_ending ? "bare-cr-or-lf" : d.nul ? "nul" : "too-big";
    event(log::Level::info, "smtp.message_refused").kv("reason", reason).kv("size", d.size);
    body_.clear();
  } else if (decoder.normalised_line_ends() > 0) {
    event(log::Level::info, "smtp.bare_lf_normalised").kv("lines", decoder.normalised_line_ends());
  }
  co_return proto_.on_data_end(d);
}

asio::awaitable<Action> Session::authenticate(const auth::Credentials& creds) {
  std::string username = creds.username, password = creds.password;
  auto r = co_await conn_.login(std::move(username), std::move(password));
  if (r.kind == services::LoginOutcome::ok) event(log::Level::info, "smtp.auth").kv("user", r.user);
  co_return proto_.on_auth_result(services::auth_outcome<Protocol::AuthOutcome>(r.kind), r.user);
}

asio::awaitable<Action> Session::deliver() {
  const Transaction& tx = proto_.transaction();
  store::Delivery d;
  d.queue_id = new_queue_id();
  d.envelope_from = tx.sender.null ? std::string() : tx.sender.mailbox.str();
  for (const auto& rcpt : tx.recipients) {
    if (rcpt.relay) d.relay_recipients.push_back(rcpt.address.str());
    else d.local_users.insert(d.local_users.end(), rcpt.user_ids.begin(), rcpt.user_ids.end());
  }
  mail::TraceInfo t;
  t.helo = proto_.helo();
  t.peer_ip = conn_.peer_ip();
  t.hostname = ctx_.cfg.server.hostname;
  t.with = proto_.with_protocol();
  t.id = d.queue_id;
  if (proto_.tls_active()) t.tls = conn_.tls_description();
  t.auth_user = proto_.authenticated_user();
  if (tx.recipients.size() == 1) t.for_rcpt = tx.recipients.front().address.str();
  t.when = std::time(nullptr);
  auto summary = mail::summarize_headers(body_);
  d.header_from = summary.from;
  d.subject = summary.subject;
  auto verdict = services::check_spam(ctx_.spam, ctx_.settings, ctx_.stats, conn_.sid(), body_, d.envelope_from);
  if (verdict.rejected()) {
    body_.clear();
    ctx_.stats.smtp_messages_rejected++;
    services::SpamHitJob hit{verdict.keyword};
    auto counted = co_await store::async_run(ctx_.pool, std::move(hit), asio::use_awaitable);
    if (!counted) event(log::Level::warn, "spam.count_failed").kv("error", counted.error().message);
    DeliveryResult refused;
    refused.kind = DeliveryResult::spam_rejected;
    co_return proto_.on_delivered(refused);
  }
  if (verdict.tagged()) d.spam_keyword = verdict.keyword;
  d.message = mail::received_header(t);
  spam::append_filtered(d.message, body_, verdict.tagged() ? &d.spam_keyword : nullptr);
  body_.clear();
  body_.shrink_to_fit();
  std::size_t size = d.message.size();
  std::size_t nrcpt = tx.recipients.size();
  std::string from = d.envelope_from;
  std::string id = d.queue_id;
  std::size_t nrelay = d.relay_recipients.size();

  auto r = co_await store::async_deliver(ctx_.deliveries, std::move(d), asio::use_awaitable);
  DeliveryResult result;
  if (r) {
    result.kind = DeliveryResult::committed;
    result.id = id;
    ctx_.stats.smtp_messages_accepted++;
    services::Published(ctx_.stats, log::Level::info, conn_.sid(), "smtp.accepted")
        .kv("id", id)
        .log("message_id", r->message_id)
        .kv("from", from)
        .kv("rcpts", nrcpt)
        .kv("size", size);
    if (nrelay > 0) {
      ctx_.stats.relay_queued += nrelay;
      if (ctx_.wake_relay) ctx_.wake_relay();
    }
  } else {
    result.kind = r.error().outcome_unknown            ? DeliveryResult::outcome_unknown
                  : r.error().kind == store::DbFailure::no_space ? DeliveryResult::insufficient_storage
                                                                 : DeliveryResult::temp_failure;
    // The database is in trouble (or refused this message): recipients are looked up
    // afresh until the next answer, so RCPT says 451 while it stays unreachable.
    ctx_.addresses.clear();
    ctx_.stats.smtp_messages_rejected++;
    event(log::Level::error, "smtp.store_failed").kv("id", id).kv("error", r.error().message);
  }
  co_return proto_.on_delivered(result);
}

}  // namespace

asio::awaitable<void> run_session(tcp::socket sock, Listener listener, std::string sid, services::ServerContext& ctx,
                                  net::ConnectionCaps::Slot slot) {
  auto session = std::make_unique<Session>(std::move(sock), listener, std::move(sid), ctx);
  co_await session->connection().run(*session, std::move(slot));
}

}  // namespace shicks::smtp
