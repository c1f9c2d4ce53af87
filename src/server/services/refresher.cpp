#include "server/services/refresher.hpp"

#include <asio/post.hpp>
#include <asio/redirect_error.hpp>
#include <asio/use_awaitable.hpp>

#include "server/net/spawn.hpp"

namespace shicks::services {

void Refresher::start(asio::io_context& io, std::chrono::milliseconds interval) {
  strand_.emplace(asio::make_strand(io));
  timer_.emplace(*strand_);
  net::spawn(*strand_, loop(interval), name_);
}

void Refresher::stop() {
  if (!strand_) return;
  asio::post(*strand_, [this] {
    stopped_ = true;
    timer_->cancel();
  });
}

namespace {
struct RunJob {
  const Refresher::Job* job;
  void operator()(store::Connection& c) const { (*job)(c); }
};
}  // namespace

asio::awaitable<void> Refresher::loop(std::chrono::milliseconds interval) {
  while (!stopped_) {
    timer_->expires_after(interval);
    std::error_code ec;
    co_await timer_->async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (ec || stopped_) break;
    RunJob job{&job_};
    auto r = co_await store::async_run(pool_, std::move(job), asio::use_awaitable);
    if (!r && failed_) failed_(r.error());
  }
}

}  // namespace shicks::services
