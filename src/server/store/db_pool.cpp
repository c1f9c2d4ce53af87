#include "server/store/db_pool.hpp"

#include "common/log.hpp"

namespace shicks::store {

DbPool::DbPool(ConnectOptions opts, unsigned threads, std::size_t queue_limit)
    : opts_(std::move(opts)), limit_(queue_limit) {
  if (threads == 0) threads = 1;
  workers_.reserve(threads);
  for (unsigned i = 0; i < threads; ++i) workers_.emplace_back([this, i] { worker_main(i); });
}

DbPool::~DbPool() { stop(); }

bool DbPool::try_submit(Job job) {
  {
    std::lock_guard lock(mu_);
    if (stopping_ || queue_.size() >= limit_) return false;
    queue_.push_back(std::move(job));
  }
  cv_.notify_one();
  return true;
}

std::size_t DbPool::queue_depth() const {
  std::lock_guard lock(mu_);
  return queue_.size();
}

void DbPool::stop() {
  std::deque<Job> cancelled;
  {
    std::lock_guard lock(mu_);
    if (stopping_ && workers_.empty()) return;
    stopping_ = true;
    cancelled.swap(queue_);
  }
  cv_.notify_all();
  for (auto& job : cancelled) job(nullptr);
  for (auto& t : workers_)
    if (t.joinable()) t.join();
  workers_.clear();
}

void DbPool::worker_main(unsigned index) {
  Connection conn(opts_);
  std::uint64_t epoch = epoch_.load();
  for (;;) {
    Job job;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) break;  // stopping and drained
      job = std::move(queue_.front());
      queue_.pop_front();
    }
    if (std::uint64_t now = epoch_.load(); now != epoch) {
      epoch = now;
      conn.disconnect();
    }
    bool was_connected = conn.connected();
    job(&conn);
    if (was_connected && !conn.connected())
      log::warn("db.disconnected").kv("worker", index).kv("db", opts_.describe());
  }
}

}  // namespace shicks::store
