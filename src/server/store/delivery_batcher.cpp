#include "server/store/delivery_batcher.hpp"

#include <exception>
#include <vector>

namespace shicks::store {

DeliveryBatcher::DeliveryBatcher(DbPool& pool, std::size_t max_batch, std::size_t max_bytes, unsigned max_in_flight)
    : pool_(pool),
      max_batch_(max_batch == 0 ? 1 : max_batch),
      max_bytes_(max_bytes),
      max_in_flight_(max_in_flight == 0 ? 1 : max_in_flight) {}

std::uint64_t DeliveryBatcher::batches() const {
  std::lock_guard lock(mu_);
  return batches_;
}

std::uint64_t DeliveryBatcher::delivered() const {
  std::lock_guard lock(mu_);
  return delivered_;
}

void DeliveryBatcher::submit(Delivery d, Done done) {
  if (guard_ && !guard_->room())
    return done(unexpected(DbFailure{DbFailure::no_space, "too little free space for the database", false}));
  bool start = false;
  {
    std::lock_guard lock(mu_);
    pending_.push_back(Item{std::move(d), std::move(done)});
    if (in_flight_ < max_in_flight_) {
      ++in_flight_;
      start = true;
    }
  }
  if (!start) return;  // a running drain takes it with its next batch
  if (pool_.try_submit([this](Connection* c) { drain(c); })) return;

  // The pool refused (queue full or stopping). When no drain is left running, what
  // is pending would wait forever: fail it now, as a refused job would be.
  std::deque<Item> orphaned;
  {
    std::lock_guard lock(mu_);
    --in_flight_;
    if (in_flight_ == 0) orphaned.swap(pending_);
  }
  for (auto& item : orphaned) item.done(unexpected(DbFailure{DbFailure::busy, "database queue full", false}));
}

void DeliveryBatcher::drain(Connection* c) {
  for (;;) {
    std::deque<Item> batch;
    {
      std::lock_guard lock(mu_);
      std::size_t bytes = 0;
      while (!pending_.empty() && batch.size() < max_batch_ &&
             (batch.empty() || bytes + pending_.front().d.message.size() <= max_bytes_)) {
        bytes += pending_.front().d.message.size();
        batch.push_back(std::move(pending_.front()));
        pending_.pop_front();
      }
      if (batch.empty()) {
        --in_flight_;
        return;
      }
    }
    if (!c) {  // the pool is stopping: nothing was attempted
      for (auto& item : batch) item.done(unexpected(DbFailure{DbFailure::stopped, "shutting down", false}));
      continue;
    }
    write(*c, batch);
  }
}

namespace {
DbFailure failure_of(const std::exception& e) {
  if (const auto* db = dynamic_cast<const DbError*>(&e))
    return DbFailure{db->connection_lost ? DbFailure::unavailable : DbFailure::failed, db->what(),
                     db->connection_lost};
  return DbFailure{DbFailure::failed, e.what(), false};
}
}  // namespace

void DeliveryBatcher::write(Connection& c, std::deque<Item>& batch) {
  std::vector<Stored> stored;
  try {
    std::vector<const Delivery*> ds;
    for (const auto& item : batch) ds.push_back(&item.d);
    stored = deliver_batch(c, ds);
  } catch (const std::exception& e) {
    DbFailure f = failure_of(e);
    if (f.outcome_unknown || batch.size() == 1) {
      for (auto& item : batch) item.done(unexpected(f));
      return;
    }
    // Refused as a whole: each alone, so that only the delivery at fault fails.
    for (auto& item : batch) {
      try {
        Stored s = deliver(c, item.d);
        {
          std::lock_guard lock(mu_);
          ++batches_;
          ++delivered_;
        }
        item.done(std::move(s));
      } catch (const std::exception& e2) {
        item.done(unexpected(failure_of(e2)));
      }
    }
    return;
  }
  {
    std::lock_guard lock(mu_);
    ++batches_;
    delivered_ += batch.size();
  }
  for (std::size_t i = 0; i < batch.size(); ++i) batch[i].done(std::move(stored[i]));
}

}  // namespace shicks::store
