#pragma once
// POP3 sessions of this daemon waiting for a maildrop whose lease another session
// holds (pop3.lock_wait_seconds). A session that gives a lease back wakes the waiters
// of that user at once, instead of leaving them to their next retry of the database.
//
// The lease itself stays in the database (design.md 6): a wake-up only says "try
// again now"; which waiter gets the lease is decided there, and leases released by
// another shicksd are found by the waiters' own periodic retries.
//
// Like SessionRegistry, a wake-up is posted to the waiter's strand and runs only if
// the waiter is still registered; a waiter unregisters on its own strand, so the
// callback never outlives what it touches.
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>

#include <asio/any_io_executor.hpp>
#include <asio/post.hpp>

namespace shicks::services {

class MaildropWaiters {
 public:
  using Id = std::uint64_t;

  Id add(std::uint64_t user_id, asio::any_io_executor ex, std::function<void()> wake) {
    std::lock_guard lock(mu_);
    Id id = next_++;
    waiters_.emplace(id, Waiter{user_id, std::move(ex), std::move(wake)});
    return id;
  }

  void remove(Id id) {
    std::lock_guard lock(mu_);
    waiters_.erase(id);
  }

  // The lease of `user_id` was given back: every waiter for it tries again.
  void released(std::uint64_t user_id) {
    std::lock_guard lock(mu_);
    for (auto& [id, w] : waiters_) {
      if (w.user_id != user_id) continue;
      asio::post(w.ex, [this, id = id] {
        std::function<void()> fn;
        {
          std::lock_guard inner(mu_);
          auto it = waiters_.find(id);
          if (it == waiters_.end()) return;
          fn = it->second.wake;
        }
        fn();
      });
    }
  }

  // Registered for the lifetime of a scope (one wait).
  class Registration {
   public:
    Registration(MaildropWaiters& w, std::uint64_t user_id, asio::any_io_executor ex, std::function<void()> wake)
        : w_(w), id_(w.add(user_id, std::move(ex), std::move(wake))) {}
    ~Registration() { w_.remove(id_); }
    Registration(const Registration&) = delete;
    Registration& operator=(const Registration&) = delete;

   private:
    MaildropWaiters& w_;
    Id id_;
  };

 private:
  struct Waiter {
    std::uint64_t user_id;
    asio::any_io_executor ex;
    std::function<void()> wake;
  };
  mutable std::mutex mu_;
  std::map<Id, Waiter> waiters_;
  Id next_ = 1;
};

}  // namespace shicks::services
