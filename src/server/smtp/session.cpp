#include "server/smtp/session.hpp"

#include <atomic>
#include <chrono>
#include <ctime>

#include <asio/redirect_error.hpp>
#include <asio/ssl/error.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>
#include <fmt/core.h>

#include "common/log.hpp"
#include "common/netaddr.hpp"
#include "server/services/login.hpp"
#include "server/net/endpoint.hpp"
#include "server/net/stream.hpp"
#include "server/spam/tag.hpp"
#include "server/smtp/data_decoder.hpp"
#include "server/mail/line_reader.hpp"
#include "server/mail/trace.hpp"
#include "server/store/mail_store.hpp"

namespace shicks::smtp {
using asio::ip::tcp;
using namespace std::chrono_literals;

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

class Session {
 public:
  Session(tcp::socket sock, Listener listener, std::string sid, services::ServerContext& ctx,
          asio::ssl::context& tls_ctx)
      : ctx_(ctx),
        sid_(std::move(sid)),
        listener_(listener),
        conn_(std::move(sock), tls_ctx),
        reader_(std::size_t(ctx.cfg.smtp.max_line_bytes)),
        proto_(make_policy()) {}

  asio::awaitable<void> run();
  void request_shutdown() {
    shutting_down_ = true;
    std::error_code ec;
    conn_.socket().cancel(ec);
  }
  // `session.kill`: the connection ends at once, without a reply.
  void kill() {
    killed_ = true;
    std::error_code ec;
    conn_.socket().shutdown(tcp::socket::shutdown_both, ec);
    conn_.socket().cancel(ec);
  }
  std::shared_ptr<net::SessionInfo> publish() {
    info_ = std::make_shared<net::SessionInfo>(sid_, listener_name(listener_), peer_);
    conn_.publish_to(info_);
    return info_;
  }
  net::Stream& conn() { return conn_; }

 private:
  Policy make_policy() {
    Policy p;
    p.hostname = ctx_.cfg.server.hostname;
    p.listener = listener_;
    p.tls_available = ctx_.tls != nullptr;
    p.tls_active = false;  // smtps: set after the handshake in run()
    std::error_code ec;
    auto ep = conn_.socket().remote_endpoint(ec);
    if (!ec) {
      peer_ip_ = net::unmapped(ep.address()).to_string();
      peer_ = net::endpoint_text(ep);
    }
    if (auto ip = IpAddress::parse(peer_ip_)) {
      p.peer_loopback = ip->is_loopback();
      for (const auto& n : ctx_.cfg.smtp.trusted_networks)
        if (n.contains(*ip)) p.peer_trusted = true;
    }
    p.plaintext_auth_on_loopback = ctx_.settings.flag("auth.allow_plaintext_on_loopback");
    p.relay_configured = !ctx_.settings.get("relay.host").empty();
    p.sender_must_match_auth = ctx_.settings.flag("smtp.sender_must_match_auth");
    p.submission_bare_lf_normalise = ctx_.settings.get("smtp.submission_bare_lf") != "reject";
    p.max_message_size = ctx_.cfg.smtp.max_message_size_bytes;
    p.max_recipients = ctx_.cfg.smtp.max_recipients;
    p.max_errors = ctx_.cfg.smtp.max_errors;
    return p;
  }

  // A client that does not take our replies within the command timeout is gone.
  std::chrono::milliseconds write_timeout() const { return std::chrono::seconds(ctx_.cfg.smtp.command_timeout_seconds); }

  log::Event event(log::Level lvl, std::string_view name) { return log::Event(lvl, sid_, name); }

  void queue(const Reply& r) { out_ += r.render(); }
  asio::awaitable<void> flush() {
    if (out_.empty()) co_return;
    std::string data;
    data.swap(out_);
    co_await conn_.write(data, write_timeout());
  }

  asio::awaitable<bool> fill(std::chrono::seconds limit);  // false: the connection is done
  asio::awaitable<bool> perform(Action a);                  // false: close the session
  asio::awaitable<Action> read_message(BareLf bare_lf);
  asio::awaitable<Action> authenticate(const auth::Credentials& c);
  asio::awaitable<Action> deliver();

  services::ServerContext& ctx_;
  std::string sid_;
  Listener listener_;
  net::Stream conn_;
  std::string peer_ = "?", peer_ip_ = "?";  // before proto_: make_policy() sets them
  mail::LineReader reader_;
  Protocol proto_;
  std::string out_;
  std::string body_;  // the message being received (bounded by the size limit)
  std::string end_reason_ = "quit";
  bool shutting_down_ = false;
  bool killed_ = false;
  std::shared_ptr<net::SessionInfo> info_ = std::make_shared<net::SessionInfo>("", "", "");
  char buf_[16384];
};

asio::awaitable<bool> Session::fill(std::chrono::seconds limit) {
  info_->set_state(proto_.state_name());
  if (shutting_down_) {
    queue(proto_.shutdown_reply());
    end_reason_ = "shutdown";
    co_return false;
  }
  std::error_code ec;
  std::size_t n = co_await conn_.read_some(buf_, sizeof buf_, limit, ec);
  if (ec == asio::error::timed_out) {
    queue(proto_.timeout_reply());
    end_reason_ = "timeout";
    co_return false;
  }
  if (shutting_down_) {
    queue(proto_.shutdown_reply());
    end_reason_ = "shutdown";
    co_return false;
  }
  if (ec) {
    end_reason_ = (ec == asio::error::eof || ec == asio::ssl::error::stream_truncated) ? "client-closed"
                                                                                       : ec.message();
    co_return false;
  }
  reader_.feed(std::string_view(buf_, n));
  co_return true;
}

asio::awaitable<void> Session::run() {
  if (listener_ == Listener::smtps) {
    // Implicit TLS first, so that even a refusal below reaches the client readably.
    std::string err;
    bool ok = co_await conn_.handshake(30s, err);
    if (!ok) {
      event(log::Level::info, "smtp.disconnect").kv("service", "smtps").kv("peer", peer_).kv("reason", "tls: " + err);
      conn_.close();
      co_return;
    }
    proto_.on_tls_started();
  }
  if (!ctx_.limiter.acquire(peer_ip_)) {
    event(log::Level::warn, "smtp.refused").kv("peer", peer_).kv("reason", "too many connections from this address");
    ctx_.stats.connections_refused_per_ip++;
    Reply r(421, "4.7.0", fmt::format("{} Error: too many connections from your address", ctx_.cfg.server.hostname));
    std::string text = r.render();
    try {
      co_await conn_.write(text, 10s);
    } catch (const std::system_error&) {
      // The client is gone already.
    }
    conn_.close();
    co_return;
  }
  struct Release {
    services::ConnectionLimiter& l;
    std::string ip;
    ~Release() { l.release(ip); }
  } release{ctx_.limiter, peer_ip_};

  event(log::Level::info, "smtp.connect").kv("service", listener_name(listener_)).kv("peer", peer_);
  if (conn_.tls()) event(log::Level::info, "smtp.tls").kv("cipher", conn_.tls_description());
  try {
    queue(proto_.greeting());
    co_await flush();
    const auto command_timeout = std::chrono::seconds(ctx_.cfg.smtp.command_timeout_seconds);
    bool open = true;
    while (open) {
      auto line = reader_.next();
      if (!line) {
        co_await flush();  // RFC 2920: replies go out before we wait for more input
        open = co_await fill(command_timeout);
        continue;
      }
      Action a = line->too_long ? proto_.on_line_too_long() : proto_.on_line(line->text);
      info_->set_state(proto_.state_name());
      open = co_await perform(std::move(a));
    }
    co_await flush();
  } catch (const std::system_error& e) {
    end_reason_ = e.what();
  }
  if (killed_) end_reason_ = "killed";
  conn_.close();
  event(log::Level::info, "smtp.disconnect").kv("reason", end_reason_).kv("errors", proto_.errors());
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
        if (a.reply.code == 421) end_reason_ = "too-many-errors";
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
        if (reader_.buffered() > 0) {
          // RFC 3207 5 / CVE-2011-0411: plaintext sent behind STARTTLS must never be
          // executed inside the TLS session.
          event(log::Level::warn, "smtp.starttls_injection").kv("discarded_bytes", reader_.buffered());
          reader_.clear();
        }
        std::string err;
        bool ok = co_await conn_.handshake(30s, err);
        if (!ok) {
          end_reason_ = "tls: " + err;
          co_return false;
        }
        proto_.on_tls_started();
        event(log::Level::info, "smtp.tls").kv("cipher", conn_.tls_description());
        co_return true;
      }
      case Action::read_data: {
        queue(a.reply);
        co_await flush();
        const BareLf bare_lf = a.bare_lf;
        a = co_await read_message(bare_lf);
        if (a.kind == Action::close && a.reply.code == 0) co_return false;  // connection lost mid-DATA
        continue;
      }
      case Action::deliver: {
        a = co_await deliver();
        continue;
      }
    }
  }
}

asio::awaitable<Action> Session::read_message(BareLf bare_lf) {
  DataDecoder decoder(ctx_.cfg.smtp.max_message_size_bytes, bare_lf);
  body_.clear();
  std::string pending = reader_.take();
  const auto data_timeout = std::chrono::seconds(ctx_.cfg.smtp.data_timeout_seconds);
  for (;;) {
    std::size_t used = decoder.feed(pending, body_);
    if (decoder.done()) {
      reader_.feed(std::string_view(pending).substr(used));  // pipelined commands after the dot
      break;
    }
    bool more = co_await fill(data_timeout);
    if (!more) {
      Action a;
      a.kind = Action::close;
      co_return a;
    }
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
  auto r = co_await services::login(ctx_, "smtp", peer_ip_, creds.username, creds.password);
  switch (r.kind) {
    case services::LoginOutcome::banned:
      event(log::Level::warn, "smtp.auth_banned").kv("peer_ip", peer_ip_).kv("retry_after", r.retry_after.count());
      co_return proto_.on_auth_result(Protocol::AuthOutcome::banned, {});
    case services::LoginOutcome::temp_failure:
      event(log::Level::warn, "smtp.auth_error").kv("error", r.error);
      co_return proto_.on_auth_result(Protocol::AuthOutcome::temp_failure, {});
    case services::LoginOutcome::bad_credentials:
      event(log::Level::warn, "smtp.auth_failed").kv("login", creds.username).kv("peer_ip", peer_ip_);
      co_return proto_.on_auth_result(Protocol::AuthOutcome::bad_credentials, {});
    case services::LoginOutcome::ok: break;
  }
  event(log::Level::info, "smtp.auth").kv("user", r.user);
  info_->set_user(r.user);
  co_return proto_.on_auth_result(Protocol::AuthOutcome::ok, r.user);
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
  t.peer_ip = peer_ip_;
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
  auto verdict = services::check_spam(ctx_, sid_, body_, d.envelope_from);
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
    services::Published(ctx_.stats, log::Level::info, sid_, "smtp.accepted")
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
  // Without a certificate an unused context stands in; STARTTLS is then not offered.
  static asio::ssl::context no_tls(asio::ssl::context::tls_server);
  auto session = std::make_unique<Session>(std::move(sock), listener, std::move(sid), ctx,
                                           ctx.tls ? *ctx.tls : no_tls);
  Session* raw = session.get();
  auto on_shutdown = [raw] { raw->request_shutdown(); };
  auto on_kill = [raw] { raw->kill(); };
  net::Registration reg(ctx.sessions,
                        ctx.sessions.add(raw->conn().socket().get_executor(), on_shutdown, raw->publish(), on_kill));
  services::OpenConnection counted(ctx.stats);
  co_await session->run();
  slot.release();
}

}  // namespace shicks::smtp
