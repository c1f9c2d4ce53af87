#pragma once
// DB worker threads, each owning one Connection. Network threads never block on the
// database: a session does
//
//     auto r = co_await store::run(pool, [user](Connection& c) { return ...; });
//
// and resumes on its own executor with Expected<R, DbFailure>. The job queue is
// bounded; when it is full the caller gets DbFailure::busy at once (-> 451 / [SYS/TEMP]).
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include <asio/associated_executor.hpp>
#include <asio/async_result.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/post.hpp>

#include "common/expected.hpp"
#include "server/store/connection.hpp"

namespace shicks::store {

struct DbFailure {
  enum Kind {
    busy,         // the job queue is full; nothing was attempted
    stopped,      // the pool is shutting down; nothing was attempted
    unavailable,  // the database could not be reached or the connection broke
    failed,       // the database refused the statement
    no_space,     // too little room left on the database's disk; nothing was attempted
  } kind = failed;
  std::string message;
  // True when a commit may or may not have happened (connection lost mid-job):
  // callers must treat the outcome as unknown (451), never as success.
  bool outcome_unknown = false;
};

template <class R>
using DbResult = Expected<R, DbFailure>;

struct DbMonostate {};

class DbPool {
 public:
  // The job receives the worker's connection, or nullptr when it is being cancelled
  // (queue drained at shutdown) and must only report that.
  using Job = std::function<void(Connection*)>;

  DbPool(ConnectOptions opts, unsigned threads, std::size_t queue_limit);
  ~DbPool();
  DbPool(const DbPool&) = delete;
  DbPool& operator=(const DbPool&) = delete;

  // False when the queue is full or the pool stopped (the job is then not run).
  bool try_submit(Job job);
  // Finishes running jobs, cancels queued ones, joins the threads.
  void stop();
  // The server went away or was replaced (the managed database restarted): every
  // worker drops its connection before its next job and connects afresh, instead
  // of failing that job on a connection to the old server. Any thread.
  void reconnect_all() { epoch_.fetch_add(1); }

  std::size_t queue_depth() const;
  std::size_t queue_limit() const { return limit_; }
  unsigned threads() const { return unsigned(workers_.size()); }
  const ConnectOptions& options() const { return opts_; }

 private:
  void worker_main(unsigned index);

  ConnectOptions opts_;
  std::size_t limit_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Job> queue_;
  bool stopping_ = false;
  std::atomic<std::uint64_t> epoch_{0};
  std::vector<std::thread> workers_;
};

namespace detail {
template <class F>
using job_result_t = std::invoke_result_t<F&, Connection&>;
template <class F>
using outcome_t = DbResult<std::conditional_t<std::is_void_v<job_result_t<F>>, DbMonostate, job_result_t<F>>>;

// A completion handler made callable from any thread (a DB worker): it runs on its
// own executor, whose work is kept alive until then. Copyable, so it fits a Job.
template <class Outcome, class Handler>
auto make_poster(Handler handler) {
  auto ex = asio::get_associated_executor(handler);
  auto state = std::make_shared<std::pair<Handler, decltype(asio::make_work_guard(ex))>>(std::move(handler),
                                                                                       asio::make_work_guard(ex));
  return [state](Outcome out) {
    auto work_ex = state->second.get_executor();
    asio::post(work_ex, [state, out = std::move(out)]() mutable {
      auto h = std::move(state->first);
      state->second.reset();
      std::move(h)(std::move(out));
    });
  };
}

template <class F>
outcome_t<F> invoke_job(F& f, Connection& c) {
  try {
    if constexpr (std::is_void_v<job_result_t<F>>) {
      f(c);
      return DbMonostate{};
    } else {
      return f(c);
    }
  } catch (const DbError& e) {
    DbFailure fail;
    fail.kind = e.connection_lost ? DbFailure::unavailable : DbFailure::failed;
    fail.message = e.what();
    fail.outcome_unknown = e.connection_lost;
    return unexpected(std::move(fail));
  } catch (const std::exception& e) {
    return unexpected(DbFailure{DbFailure::failed, e.what(), false});
  }
}
}  // namespace detail

// Runs `f(Connection&)` on a DB worker and completes on the caller's executor.
// A plain function over async_initiate (not a coroutine), per the GCC 12 notes.
template <class F, class CompletionToken>
auto async_run(DbPool& pool, F f, CompletionToken&& token) {
  using Outcome = detail::outcome_t<F>;
  return asio::async_initiate<CompletionToken, void(Outcome)>(
      [&pool](auto handler, F job) {
        auto deliver = detail::make_poster<Outcome>(std::move(handler));
        bool queued = pool.try_submit([job = std::move(job), deliver](Connection* c) mutable {
          if (!c) return deliver(Outcome(unexpected(DbFailure{DbFailure::stopped, "shutting down", false})));
          deliver(detail::invoke_job(job, *c));
        });
        if (!queued)
          deliver(Outcome(unexpected(DbFailure{DbFailure::busy, "database queue full", false})));
      },
      token, std::move(f));
}

}  // namespace shicks::store
