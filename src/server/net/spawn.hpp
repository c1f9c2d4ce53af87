#pragma once
// co_spawn with a completion handler that logs, instead of `detached` (which would
// swallow the exception that ends a coroutine).
#include <exception>
#include <string>

#include <asio/co_spawn.hpp>

#include "common/log.hpp"

namespace shicks::net {

struct LogCompletion {
  std::string what;
  void operator()(std::exception_ptr e) const {
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      log::error("coroutine.failed").kv("task", what).kv("error", ex.what());
    } catch (...) {
      log::error("coroutine.failed").kv("task", what).kv("error", "unknown exception");
    }
  }
};

template <class Executor, class Awaitable>
void spawn(Executor ex, Awaitable&& a, std::string what) {
  asio::co_spawn(ex, std::forward<Awaitable>(a), LogCompletion{std::move(what)});
}

}  // namespace shicks::net
