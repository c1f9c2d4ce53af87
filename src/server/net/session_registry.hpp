#pragma once
// Open sessions that must be told about a shutdown. Each session runs on its own
// strand and registers a callback that is posted to that strand, so the callback
// never races the session; a session that already ended is skipped.
// SMTP and POP3 sessions also publish a SessionInfo and a kill callback, for
// `session.list` / `session.kill` on the control socket, and a poke callback: when the
// server comes under stress, every session re-checks how long it may still wait.
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <asio/any_io_executor.hpp>
#include <asio/post.hpp>

#include "server/net/session_info.hpp"

namespace shicks::net {

class SessionRegistry {
 public:
  using Id = std::uint64_t;

  Id add(asio::any_io_executor ex, std::function<void()> on_shutdown) {
    return add(std::move(ex), std::move(on_shutdown), nullptr, nullptr, nullptr);
  }
  // A session that shows up in list(), can be ended with kill() and poked.
  Id add(asio::any_io_executor ex, std::function<void()> on_shutdown, std::shared_ptr<const SessionInfo> info,
         std::function<void()> on_kill, std::function<void()> on_poke) {
    std::lock_guard lock(mu_);
    Id id = next_++;
    sessions_.emplace(id, Entry{std::move(ex), std::move(on_shutdown), std::move(info), std::move(on_kill),
                                std::move(on_poke)});
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
    for (auto& [id, e] : sessions_) post_to(id, e, &Entry::on_shutdown);
  }

  // Posts every poke callback to its session's strand.
  void poke_all() {
    std::lock_guard lock(mu_);
    for (auto& [id, e] : sessions_)
      if (e.on_poke) post_to(id, e, &Entry::on_poke);
  }

  // The published sessions, oldest first.
  std::vector<SessionInfo::View> list() const {
    std::lock_guard lock(mu_);
    std::vector<SessionInfo::View> out;
    for (const auto& [id, e] : sessions_)
      if (e.info) out.push_back(e.info->view());
    return out;
  }

  // Posts the kill callback of the session with this public id ("s12") to its
  // strand. False when no such session is open.
  bool kill(const std::string& session_id) {
    std::lock_guard lock(mu_);
    for (auto& [id, e] : sessions_) {
      if (!e.info || !e.on_kill || e.info->id() != session_id) continue;
      post_to(id, e, &Entry::on_kill);
      return true;
    }
    return false;
  }

 private:
  struct Entry {
    asio::any_io_executor ex;
    std::function<void()> on_shutdown;
    std::shared_ptr<const SessionInfo> info;  // null: not listed (control sessions)
    std::function<void()> on_kill;
    std::function<void()> on_poke;
  };

  // Runs e.*which on the session's strand, unless the session ended meanwhile.
  // Called with mu_ held.
  void post_to(Id id, Entry& e, std::function<void()> Entry::*which) {
    asio::post(e.ex, [this, id, which] {
      std::function<void()> fn;
      {
        std::lock_guard inner(mu_);
        auto it = sessions_.find(id);
        if (it == sessions_.end()) return;
        fn = it->second.*which;
      }
      fn();
    });
  }
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
