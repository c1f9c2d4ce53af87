#include "server/services/login.hpp"

#include <algorithm>

#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include "server/store/mail_store.hpp"

namespace shicks::services {

namespace {
using namespace std::chrono_literals;
// How often and how long a login waits for the attempts in flight from its address.
constexpr auto kBusyPoll = 50ms;
constexpr auto kBusyWait = 10s;

struct LoginJob {
  std::string login, password;
  store::LoginResult operator()(store::Connection& c) const { return store::check_login(c, login, password); }
};
}  // namespace

asio::awaitable<LoginOutcome> login(ServerContext& ctx, const char* protocol, const std::string& peer_ip,
                                    std::string login, std::string password) {
  LoginOutcome out;
  auth::Throttle::Limits limits;
  limits.max_failures = std::max(1u, ctx.settings.get(config::setting::auth_max_failures));
  limits.ban = std::chrono::seconds(std::max(1u, ctx.settings.get(config::setting::auth_ban_seconds)));
  ctx.throttle.set_limits(limits);
  // The attempt is reserved before the password is checked: however many connections
  // from one IP race, no more passwords are checked than the failures it has left.
  // An attempt refused only because others are in flight (busy) waits for their
  // outcome: right passwords from many devices behind one address all get in, wrong
  // ones are banned once the failures are counted.
  auto reservation = ctx.throttle.reserve(peer_ip, auth::Throttle::Clock::now());
  for (auto waited = kBusyPoll; reservation.verdict.busy && waited <= kBusyWait; waited += kBusyPoll) {
    asio::steady_timer t(co_await asio::this_coro::executor);
    t.expires_after(kBusyPoll);
    co_await t.async_wait(asio::use_awaitable);
    reservation = ctx.throttle.reserve(peer_ip, auth::Throttle::Clock::now());
  }
  const auth::Throttle::Verdict verdict = reservation.verdict;
  if (verdict.banned) {
    out.kind = LoginOutcome::banned;
    out.retry_after = verdict.retry_after;
    co_return out;
  }
  auth::Throttle::Attempt attempt = std::move(reservation.attempt);  // released if we leave early
  if (verdict.delay.count() > 0) {
    asio::steady_timer t(co_await asio::this_coro::executor);
    t.expires_after(verdict.delay);
    co_await t.async_wait(asio::use_awaitable);
  }
  std::string name = login;
  LoginJob job{std::move(login), std::move(password)};
  auto r = co_await store::async_run(ctx.pool, std::move(job), asio::use_awaitable);
  if (!r) {
    attempt.release();  // not checked: nothing is counted
    out.kind = LoginOutcome::temp_failure;
    out.error = r.error().message;
    co_return out;
  }
  ctx.stats.auth_checks++;
  if (!r->ok) {
    attempt.failed(auth::Throttle::Clock::now());
    ctx.stats.auth_failures++;
    // The watch event only: each session logs its own smtp.auth_failed / pop3.auth_failed.
    ctx.stats.emit("auth.failed", {{"protocol", protocol}, {"login", name}, {"peer", peer_ip}});
    out.kind = LoginOutcome::bad_credentials;
    co_return out;
  }
  attempt.succeeded(auth::Throttle::Clock::now());
  out.kind = LoginOutcome::ok;
  out.user = r->user;
  out.user_id = r->user_id;
  co_return out;
}

}  // namespace shicks::services
