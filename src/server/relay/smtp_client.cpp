#include "server/relay/smtp_client.hpp"

#include <algorithm>
#include <stdexcept>

#include <asio/connect.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/ip/address.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/ssl/context.hpp>
#include <asio/ssl/host_name_verification.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <fmt/core.h>

#include "server/config/runtime_settings.hpp"
#include "server/net/endpoint.hpp"
#include "server/net/stream.hpp"
#include "server/net/tls.hpp"
#include "server/mail/dot_stuffer.hpp"
#include "server/store/db_pool.hpp"
#include "server/store/relay_store.hpp"

namespace shicks::relay {
using asio::ip::tcp;
using namespace asio::experimental::awaitable_operators;
namespace exp = asio::experimental;
using std::chrono::milliseconds;
using std::chrono::seconds;

namespace {

// A broken, refused or timed-out connection: ends the session.
struct SessionError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

constexpr seconds kConnectTimeout{30};    // Postfix: smtp_connect_timeout
constexpr seconds kHandshakeTimeout{60};
constexpr seconds kDataBlockTimeout{180};  // RFC 5321 4.5.3.2.5

struct ChunkJob {
  std::uint64_t message_id = 0;
  std::uint64_t seq = 0;
  std::string operator()(store::Connection& c) const { return store::relay::read_chunk(c, message_id, seq); }
};

// "[::1]" -> "::1": brackets are how relay.host writes an IPv6 literal.
std::string bare_host(const std::string& host) {
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') return host.substr(1, host.size() - 2);
  return host;
}

ClientOptions client_options(const RelaySettings& s) {
  ClientOptions o;
  o.helo_name = s.helo_name;
  o.tls = s.tls;
  o.username = s.username;
  o.password = s.password;
  o.allow_plaintext_auth = s.allow_plaintext_auth || config::is_loopback_host(s.host);
  o.relay_host = s.host;
  return o;
}

bool is_address(const std::string& host) {
  std::error_code ec;
  asio::ip::make_address(host, ec);
  return !ec;
}

// Points `slot` at `value` for the guard's lifetime (also when an exception ends it).
template <class T>
struct PointAt {
  T*& slot;
  PointAt(T*& s, T* value) : slot(s) { slot = value; }
  ~PointAt() { slot = nullptr; }
  PointAt(const PointAt&) = delete;
  PointAt& operator=(const PointAt&) = delete;
};

std::string reply_line(const ServerReply& r, std::size_t i) {
  ServerReply one{r.code, {}, {r.lines[i]}};
  std::string s = one.summary(1000);
  if (i + 1 < r.lines.size() && s.size() >= 3) s[3] = '-';
  return s;
}

}  // namespace

struct SmtpSession::Impl {
  asio::any_io_executor ex;
  RelaySettings s;
  std::string host;  // s.host without brackets
  Clock::time_point deadline;
  seconds step_cap;
  Client client;
  asio::ssl::context tls_ctx{asio::ssl::context::tls_client};
  std::unique_ptr<net::Stream> stream;
  // While connecting (before `stream` exists): what close() must cancel.
  tcp::resolver* resolving = nullptr;
  tcp::socket* connecting = nullptr;
  ReplyParser parser;
  std::string inbuf;  // received, not yet parsed
  std::string error;
  bool open = false;
  std::vector<TranscriptEntry>* transcript = nullptr;
  // The body of the message being sent.
  store::DbPool* pool = nullptr;
  std::uint64_t message_id = 0;
  std::uint64_t chunk_count = 0;

  Impl(asio::any_io_executor e, RelaySettings settings, Clock::time_point d, seconds cap)
      : ex(std::move(e)),
        s(std::move(settings)),
        host(bare_host(s.host)),
        deadline(d),
        step_cap(cap),
        client(client_options(s)) {
    // TLS 1.2 or newer with the listeners' suites (net/tls.hpp; design.md 8); the
    // peer's certificate chain and its name are checked against the system's trust
    // store unless relay.tls_verify is false.
    tls_ctx.set_options(asio::ssl::context::default_workarounds);
    net::apply_tls_policy(tls_ctx, net::TlsRole::client);
    if (s.verify) {
      tls_ctx.set_default_verify_paths();
      tls_ctx.set_verify_mode(asio::ssl::verify_peer);
      tls_ctx.set_verify_callback(asio::ssl::host_name_verification(host));
    } else {
      tls_ctx.set_verify_mode(asio::ssl::verify_none);
    }
  }

  // How long the next wait may last: the command's timeout, at most step_cap, and
  // never past the deadline.
  milliseconds limit(seconds t) const {
    auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
    if (left <= milliseconds(0)) throw SessionError("out of time (the claim on the queue entries ends)");
    milliseconds m = t;
    if (step_cap.count() > 0) m = std::min<milliseconds>(m, step_cap);
    return std::min(m, left);
  }

  void note(std::string step, bool ok, std::vector<std::string> lines) {
    if (transcript) transcript->push_back(TranscriptEntry{std::move(step), ok, std::move(lines)});
  }
  void note_reply(const ServerReply& r) {
    if (!transcript) return;
    if (transcript->empty() || !transcript->back().lines.empty()) note("greeting", true, {});
    auto& e = transcript->back();
    for (std::size_t i = 0; i < r.lines.size(); ++i) e.lines.push_back(reply_line(r, i));
    e.ok = r.code < 400;
  }

  void fail(const std::string& why) {
    error = why;
    note("error", false, {why});
    close();
  }
  void close() {
    open = false;
    if (resolving) resolving->cancel();
    std::error_code ec;
    if (connecting) connecting->close(ec);
    if (stream) stream->close();
  }

  asio::awaitable<void> connect() {
    tcp::resolver resolver(ex);
    PointAt<tcp::resolver> cancel_resolve(resolving, &resolver);
    asio::steady_timer timer(ex);
    timer.expires_after(limit(kConnectTimeout));
    std::string service = std::to_string(s.port);
    auto resolve = resolver.async_resolve(host, service, exp::as_tuple(asio::use_awaitable));
    auto wait = timer.async_wait(exp::as_tuple(asio::use_awaitable));
    auto race = std::move(resolve) || std::move(wait);
    auto resolved = co_await std::move(race);
    if (resolved.index() == 1) throw SessionError(fmt::format("resolving {}: timed out", host));
    auto [rec, endpoints] = std::get<0>(resolved);
    if (rec) throw SessionError(fmt::format("resolving {}: {}", host, rec.message()));

    tcp::socket sock(ex);
    PointAt<tcp::socket> cancel_connect(connecting, &sock);
    timer.expires_after(limit(kConnectTimeout));
    auto conn = asio::async_connect(sock, endpoints, exp::as_tuple(asio::use_awaitable));
    auto wait2 = timer.async_wait(exp::as_tuple(asio::use_awaitable));
    auto race2 = std::move(conn) || std::move(wait2);
    auto connected = co_await std::move(race2);
    if (connected.index() == 1) throw SessionError(fmt::format("connecting to {} port {}: timed out", host, s.port));
    auto [cec, ep] = std::get<0>(connected);
    if (cec) throw SessionError(fmt::format("connecting to {} port {}: {}", host, s.port, cec.message()));
    stream = std::make_unique<net::Stream>(std::move(sock), tls_ctx);
    note("connect", true, {"connected to " + net::endpoint_text(ep)});
  }

  asio::awaitable<void> handshake() {
    std::string err;
    std::string sni = is_address(host) ? std::string() : host;  // RFC 6066 3: no literal addresses
    bool ok = co_await stream->client_handshake(sni, limit(kHandshakeTimeout), err);
    if (!ok) throw SessionError("TLS handshake with the relay failed: " + err);
    note("TLS", true,
         {stream->tls_description(),
          s.verify ? "certificate verified for " + host : "certificate not verified (relay.tls_verify is false)"});
  }

  asio::awaitable<ServerReply> read_reply(seconds t) {
    char buf[4096];
    for (;;) {
      if (!inbuf.empty()) {
        std::size_t used = 0;
        auto st = parser.feed(inbuf, used);
        inbuf.erase(0, used);
        if (st == ReplyParser::State::reply) co_return parser.take();
        if (st == ReplyParser::State::error) throw SessionError("the relay's reply is not SMTP: " + parser.error());
      }
      std::error_code ec;
      std::size_t n = co_await stream->read_some(buf, sizeof buf, limit(t), ec);
      if (ec == asio::error::timed_out) throw SessionError("timed out waiting for the relay's reply");
      if (ec == asio::error::eof) throw SessionError("the relay closed the connection");
      if (ec) throw SessionError("reading from the relay: " + ec.message());
      inbuf.append(buf, n);
    }
  }

  asio::awaitable<void> write(const std::string& data, seconds t) {
    try {
      co_await stream->write(data, limit(t));
    } catch (const std::system_error& e) {
      throw SessionError(std::string("writing to the relay: ") + e.what());
    }
  }

  // RFC 5321 4.5.2: transparency (dot-stuffing); the stored message has CRLF line ends.
  asio::awaitable<void> send_body() {
    mail::DotStuffer stuffer;
    std::string out;
    for (std::uint64_t seq = 0; seq < chunk_count; ++seq) {
      ChunkJob job{message_id, seq};
      auto chunk = co_await store::async_run(*pool, std::move(job), asio::use_awaitable);
      if (!chunk) throw SessionError("reading the message from the database: " + chunk.error().message);
      out.clear();
      stuffer.feed(chunk.value(), out);
      co_await write(out, kDataBlockTimeout);
    }
    out.clear();
    stuffer.finish(out);
    co_await write(out, kDataBlockTimeout);
  }

  // Runs the client's steps until it is ready, done with a message, closed or failed.
  asio::awaitable<Step> drive(Step st) {
    for (;;) {
      switch (st.kind) {
        case Step::send:
          note(st.label, true, {});
          co_await write(st.data, st.timeout);
          break;
        case Step::read:
          break;
        case Step::start_tls:
          // RFC 3207 5: nothing may follow the 220 before the handshake.
          if (!inbuf.empty() || !parser.idle()) throw SessionError("the relay sent data after its STARTTLS reply");
          co_await handshake();
          st = client.on_tls_ready();
          continue;
        case Step::send_body:
          co_await send_body();
          break;
        default:
          co_return st;
      }
      ServerReply r = co_await read_reply(st.timeout);
      note_reply(r);
      st = client.on_reply(r);
    }
  }
};

SmtpSession::SmtpSession(asio::any_io_executor ex, RelaySettings settings, Clock::time_point deadline,
                         std::chrono::seconds step_cap)
    : impl_(std::make_unique<Impl>(std::move(ex), std::move(settings), deadline, step_cap)) {}

SmtpSession::~SmtpSession() = default;

void SmtpSession::record(std::vector<TranscriptEntry>* transcript) { impl_->transcript = transcript; }
bool SmtpSession::usable() const { return impl_->open && impl_->client.reusable(); }
const std::string& SmtpSession::error() const { return impl_->error; }
void SmtpSession::close() { impl_->close(); }

asio::awaitable<bool> SmtpSession::open() {
  Impl& m = *impl_;
  std::string why;
  // Settings that can never send their password (stored before `relay set` refused
  // them): no connection at all; the client refuses AUTH without TLS as well.
  ClientOptions opts = client_options(m.s);
  if (opts.tls == TlsMode::none && !opts.username.empty() && !opts.allow_plaintext_auth) {
    m.fail(config::plaintext_auth_refusal(m.s.host));
    co_return false;
  }
  try {
    co_await m.connect();
    if (m.s.tls == TlsMode::implicit) co_await m.handshake();
    Step st = m.client.start();
    Step end = co_await m.drive(std::move(st));
    if (end.kind == Step::ready) {
      m.open = true;
      co_return true;
    }
    why = end.kind == Step::failed ? end.error : "the relay ended the session";
  } catch (const std::exception& e) {
    why = e.what();
  }
  m.fail(why);
  co_return false;
}

asio::awaitable<std::vector<RecipientResult>> SmtpSession::send(const Envelope& env, store::DbPool& pool,
                                                                std::uint64_t message_id,
                                                                std::uint64_t chunk_count) {
  Impl& m = *impl_;
  m.pool = &pool;
  m.message_id = message_id;
  m.chunk_count = chunk_count;
  std::string why;
  try {
    Step st = m.client.begin(env);
    Step end = co_await m.drive(std::move(st));
    if (end.kind == Step::message_done) co_return m.client.take_results();
    why = end.kind == Step::failed ? end.error : "the relay ended the session";
  } catch (const std::exception& e) {
    why = e.what();
  }
  auto results = m.client.abort(why);
  m.fail(why);
  if (results.size() != env.recipients.size()) {
    results.clear();
    for (const auto& r : env.recipients) results.push_back(RecipientResult{r, Outcome::temporary, "4.4.2", why, false});
  }
  co_return results;
}

asio::awaitable<void> SmtpSession::quit() {
  Impl& m = *impl_;
  if (m.open) {
    try {
      Step st = m.client.quit();
      co_await m.drive(std::move(st));
    } catch (const std::exception&) {
      // The messages are recorded already; a QUIT that fails changes nothing.
    }
  }
  m.close();
}

asio::awaitable<RelayTestReport> test_relay(RelaySettings settings) {
  auto ex = co_await asio::this_coro::executor;
  RelayTestReport rep;
  auto deadline = SmtpSession::Clock::now() + std::chrono::seconds(25);
  SmtpSession session(ex, std::move(settings), deadline, std::chrono::seconds(10));
  session.record(&rep.steps);
  rep.ok = co_await session.open();
  if (rep.ok) co_await session.quit();
  else rep.error = session.error();
  co_return rep;
}

}  // namespace shicks::relay
