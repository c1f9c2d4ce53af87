#pragma once
// Group commit for accepted messages. Every SMTP session that reaches the end of
// DATA hands its Delivery to the batcher and waits; the batcher writes all the
// deliveries waiting at that moment in ONE transaction, sent to the database as one
// script (store::deliver_batch: one round trip), on a DB worker, and completes each
// of them after the COMMIT. Under load this turns N fsyncs and 5N round trips into
// one of each, while a lone message is written at once (a batch of one).
//
// "250 means committed" holds for each message: its completion comes after the
// COMMIT that contains it. A batch that the database refuses (say, a mailbox was
// deleted between RCPT and DATA) is rolled back and its deliveries are retried one
// transaction each, so one bad message never fails the others. When the connection
// is lost during a batch, no one can know whether the COMMIT happened: every
// delivery in it completes with outcome_unknown (the session answers 451), as a lone
// delivery would.
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>

#include "server/store/db_pool.hpp"
#include "server/store/free_space.hpp"
#include "server/store/mail_store.hpp"

namespace shicks::store {

class DeliveryBatcher {
 public:
  using Done = std::function<void(DbResult<Stored>)>;

  // At most `max_batch` deliveries and about `max_bytes` of message text per
  // transaction; at most `max_in_flight` transactions at once (one keeps the next
  // batch filling while the other commits).
  explicit DeliveryBatcher(DbPool& pool, std::size_t max_batch = 64, std::size_t max_bytes = 4u << 20,
                           unsigned max_in_flight = 2);
  DeliveryBatcher(const DeliveryBatcher&) = delete;
  DeliveryBatcher& operator=(const DeliveryBatcher&) = delete;

  // Thread-safe. `done` runs exactly once, on a DB worker thread (or on the caller's
  // thread when the pool refuses work: busy or stopped, or the guard finds the disk
  // full: no_space).
  void submit(Delivery d, Done done);

  // Before start-up is over: refuse deliveries (DbFailure::no_space) while `guard`
  // finds too little room on the database's disk. Not owned; nullptr for none.
  void set_free_space_guard(const FreeSpaceGuard* guard) { guard_ = guard; }

  // Counters for tests and status: transactions written and deliveries in them.
  std::uint64_t batches() const;
  std::uint64_t delivered() const;

 private:
  struct Item {
    Delivery d;
    Done done;
  };
  void drain(Connection* c);
  void write(Connection& c, std::deque<Item>& batch);

  DbPool& pool_;
  const FreeSpaceGuard* guard_ = nullptr;
  std::size_t max_batch_, max_bytes_;
  unsigned max_in_flight_;
  mutable std::mutex mu_;
  std::deque<Item> pending_;
  unsigned in_flight_ = 0;
  std::uint64_t batches_ = 0, delivered_ = 0;
};

// Awaitable form: completes on the caller's executor with DbResult<Stored>.
// A plain function over async_initiate (not a coroutine), per the GCC 12 notes.
template <class CompletionToken>
auto async_deliver(DeliveryBatcher& batcher, Delivery d, CompletionToken&& token) {
  using Outcome = DbResult<Stored>;
  return asio::async_initiate<CompletionToken, void(Outcome)>(
      [&batcher](auto handler, Delivery delivery) {
        batcher.submit(std::move(delivery), detail::make_poster<Outcome>(std::move(handler)));
      },
      token, std::move(d));
}

}  // namespace shicks::store
