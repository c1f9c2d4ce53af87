#pragma once
// The POP3 maildrop leases this daemon's sessions hold (store/pop3_store.hpp), kept
// alive together: every third of pop3.lease_seconds one renewal extends all of them
// (one statement for the daemon, not a timer per session), so a lease stays held
// however long its session waits for a client, and the lease of a daemon that died
// runs out within pop3.lease_seconds for the other daemons on the database.
//
// Owners are "MACHINE/INSTANCE/PID/SID/RANDOM": MACHINE/INSTANCE/ names this daemon
// (its host and its control socket, as the relay runner names its claims), so at
// start the leases of its earlier run are voided at once (void_earlier_runs());
// MACHINE/INSTANCE/PID/ names this run, whose leases the renewal extends.
//
// A session registers its owner before it tries to take the lease and stays
// registered until the lease is given back, in three states:
//   opening  the lease is being taken (or it is uncertain whether it was): a row may
//            or may not exist;
//   held     the session holds it: if the renewal finds the row gone (it expired
//            while the database was away and another session took it), the session
//            is told at once on its own executor and ends without deleting anything;
//   closing  it is being given back (QUIT, end of session): its row may go any time.
// A row of this run that no registered session owns (its release failed) is
// removed by the renewal instead of being kept alive.
//
// Like MaildropWaiters, a notice is posted to the session's executor and runs only if
// the session is still registered and holding; a session unregisters on that
// executor, so the callback never outlives what it touches.
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>
#include <asio/strand.hpp>

#include "server/config/config.hpp"
#include "server/store/db_pool.hpp"

namespace shicks::services {

class SettingsCache;

class Pop3Leases {
 public:
  using Id = std::uint64_t;
  // The shortest lease pop3.lease_seconds may ask for (runtime_settings.cpp).
  static constexpr unsigned kMinLeaseSeconds = 3;

  Pop3Leases(asio::io_context& io, store::DbPool& pool, const SettingsCache& settings, const config::Config& cfg);
  ~Pop3Leases();
  Pop3Leases(const Pop3Leases&) = delete;
  Pop3Leases& operator=(const Pop3Leases&) = delete;

  // "MACHINE/INSTANCE/": every run of the daemon with this configuration.
  static std::string instance_prefix(const config::Config& cfg);
  // At start, before any session: removes the leases of this daemon's earlier runs
  // (their sessions died with them). Returns how many. Throws DbError.
  std::uint64_t void_earlier_runs(store::Connection& c) const;

  const std::string& run_prefix() const { return run_prefix_; }
  // A new owner for a session of this run (unique: the session id and a random part).
  std::string new_owner(const std::string& sid) const;
  // pop3.lease_seconds as it is now (at least kMinLeaseSeconds).
  unsigned lease_seconds() const;

  Id add(std::uint64_t user_id, std::string owner, asio::any_io_executor ex, std::function<void()> lost);
  void held(Id id);
  void closing(Id id);
  void remove(Id id);
  std::size_t registered() const;

  // The renewal loop; stop() ends it (any thread).
  void start();
  void stop();

  // A session's registration for the life of one owner.
  class Registration {
   public:
    Registration(Pop3Leases& l, std::uint64_t user_id, std::string owner, asio::any_io_executor ex,
                 std::function<void()> lost)
        : l_(l), id_(l.add(user_id, std::move(owner), std::move(ex), std::move(lost))) {}
    ~Registration() { l_.remove(id_); }
    Registration(const Registration&) = delete;
    Registration& operator=(const Registration&) = delete;
    void held() { l_.held(id_); }
    void closing() { l_.closing(id_); }

   private:
    Pop3Leases& l_;
    Id id_;
  };

 private:
  enum class State { opening, held, closing };
  struct Entry {
    std::uint64_t user_id;
    std::string owner;
    asio::any_io_executor ex;
    std::function<void()> lost;
    State state = State::opening;
  };
  asio::awaitable<void> run();
  asio::awaitable<void> renew_once(unsigned lease_seconds, bool& ok);
  void notify_lost(Id id);

  store::DbPool& pool_;
  const SettingsCache& settings_;
  std::string instance_;
  std::string run_prefix_;
  asio::strand<asio::io_context::executor_type> strand_;
  asio::steady_timer timer_;  // strand_ only, like stopping_
  bool stopping_ = false;
  mutable std::mutex mu_;
  std::map<Id, Entry> entries_;
  Id next_ = 1;
};

}  // namespace shicks::services
