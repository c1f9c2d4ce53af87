#pragma once
// Open sessions that must be told about a shutdown. Each session runs on its own
// strand and registers a callback that is posted to that strand, so the callback
// never races the session; a session that already ended is skipped.
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>

#include <asio/any_io_executor.hpp>
#include <asio/post.hpp>

namespace shicks::net {

class SessionRegistry {
 public:
  using Id = std::uint64_t;

  Id add(asio::any_io_executor ex, std::function<void()> on_shutdown) {
    std::lock_guard lock(mu_);
    Id id = next_++;
    sessions_.emplace(id, Entry{std::move(ex), std::move(on_shutdown)});
    return id;
  }

  void remove(Id id) {
    std::lock_guard lock(mu_);
    sessions_.erase(id);
  }

  std::size_t size() const {
    std::lock_guard lock(mu_);
    return sessions_.size();
  }

  // Posts every session's callback to its strand.
  void shutdown_all() {
    std::lock_guard lock(mu_);
    for (auto& [id, e] : sessions_) {
      asio::post(e.ex, [this, id = id] {
        std::function<void()> fn;
        {
          std::lock_guard inner(mu_);
          auto it = sessions_.find(id);
          if (it == sessions_.end()) return;
          fn = it->second.on_shutdown;
        }
        fn();
      });
    }
  }

 private:
  struct Entry {
    asio::any_io_executor ex;
    std::function<void()> on_shutdown;
  };
  mutable std::mutex mu_;
  std::map<Id, Entry> sessions_;
  Id next_ = 1;
};

// Removes the registration when the session's frame goes away, however it ends.
class Registration {
 public:
  Registration(SessionRegistry& r, SessionRegistry::Id id) : r_(r), id_(id) {}
  ~Registration() { r_.remove(id_); }
  Registration(const Registration&) = delete;
  Registration& operator=(const Registration&) = delete;

 private:
  SessionRegistry& r_;
  SessionRegistry::Id id_;
};

}  // namespace shicks::net
