#pragma once
// How much memory the managed mariadbd gets, worked out from the machine and the
// data (database.mode = "managed"). A household server often runs on a small board
// beside other things, and a fresh mail database is tiny: the InnoDB buffer pool
// starts at what the data needs (kMinPool at least) and grows with it, up to a
// budget of an eighth of the machine's memory (database.managed_memory_mb sets the
// budget; database.buffer_pool_bytes fixes the pool instead). The caches Shicks does
// not use (MyISAM's key buffer; Aria, used only for internal temporary tables) are
// kept small.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "server/config/config.hpp"

namespace shicks::store {

constexpr std::uint64_t kMiB = std::uint64_t(1) << 20;
// innodb_buffer_pool_chunk_size: the pool grows and is rounded in steps of this.
constexpr std::uint64_t kPoolChunk = 8 * kMiB;
constexpr std::uint64_t kMinPool = 32 * kMiB;
constexpr std::uint64_t kMinBudget = 64 * kMiB;
constexpr std::uint64_t kMaxAutoBudget = std::uint64_t(4) << 30;

struct ManagedMemory {
  std::uint64_t buffer_pool = kMinPool;  // innodb_buffer_pool_size at start
  std::uint64_t budget = kMinBudget;     // the most the pool grows to
  bool fixed = false;                    // database.buffer_pool_bytes: never resized
};

// The budget when database.managed_memory_mb is not set: an eighth of `ram_bytes`,
// within [kMinBudget, kMaxAutoBudget].
std::uint64_t auto_budget(std::uint64_t ram_bytes);
// The pool `data_bytes` of tables and indexes want: a quarter more than they take,
// rounded up to kPoolChunk, within [kMinPool, budget] (budget itself when it is
// smaller than kMinPool).
std::uint64_t pool_for(std::uint64_t data_bytes, std::uint64_t budget);
// The plan for a start: `ram_bytes` of memory on the machine, `data_bytes` in the
// database's files.
ManagedMemory plan_memory(const config::DatabaseConfig& db, std::uint64_t ram_bytes, std::uint64_t data_bytes);
// While running: the size to grow a pool of `current` bytes to, or 0 to leave it.
// It grows once the data wants a pool at least a quarter larger (so that a slowly
// growing database is not resized every few minutes) and never shrinks.
std::uint64_t grown_pool(std::uint64_t current, std::uint64_t data_bytes, std::uint64_t budget);

// The memory this process may use: physical memory, or the cgroup's limit
// (memory.max, v2; memory.limit_in_bytes, v1) when that is lower.
std::uint64_t machine_memory_bytes();
// The bytes of the InnoDB files (*.ibd) in `database_dir`; 0 when it does not exist.
std::uint64_t data_bytes_on_disk(const std::filesystem::path& database_dir);

// mariadbd's memory options for `m` (--innodb-buffer-pool-size and the rest).
std::vector<std::string> memory_options(const ManagedMemory& m);

}  // namespace shicks::store
