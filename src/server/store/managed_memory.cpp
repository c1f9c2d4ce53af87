#include "server/store/managed_memory.hpp"

#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <string>
#include <system_error>

namespace shicks::store {
namespace fs = std::filesystem;

namespace {
std::uint64_t round_up(std::uint64_t v, std::uint64_t step) { return (v + step - 1) / step * step; }

// A cgroup limit file's value; 0 when absent or "max".
std::uint64_t read_limit(const char* path) {
  std::ifstream in(path);
  std::string v;
  if (!(in >> v) || v == "max") return 0;
  try {
    return std::stoull(v);
  } catch (const std::exception&) {
    return 0;
  }
}
}  // namespace

std::uint64_t auto_budget(std::uint64_t ram_bytes) {
  return std::clamp(ram_bytes / 8, kMinBudget, kMaxAutoBudget) / kPoolChunk * kPoolChunk;
}

std::uint64_t pool_for(std::uint64_t data_bytes, std::uint64_t budget) {
  std::uint64_t want = round_up(data_bytes + data_bytes / 4, kPoolChunk);
  budget = std::max(budget / kPoolChunk * kPoolChunk, kPoolChunk);
  return std::min(std::max(want, kMinPool), budget);
}

ManagedMemory plan_memory(const config::DatabaseConfig& db, std::uint64_t ram_bytes, std::uint64_t data_bytes) {
  ManagedMemory m;
  if (db.buffer_pool_bytes > 0) {
    m.buffer_pool = m.budget = db.buffer_pool_bytes;
    m.fixed = true;
    return m;
  }
  m.budget = db.managed_memory_mb > 0 ? std::uint64_t(db.managed_memory_mb) * kMiB : auto_budget(ram_bytes);
  m.buffer_pool = pool_for(data_bytes, m.budget);
  return m;
}

std::uint64_t grown_pool(std::uint64_t current, std::uint64_t data_bytes, std::uint64_t budget) {
  std::uint64_t want = pool_for(data_bytes, budget);
  if (want <= current || want - current < current / 4) return 0;
  return want;
}

std::uint64_t machine_memory_bytes() {
  long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGESIZE);
  std::uint64_t ram = pages > 0 && page > 0 ? std::uint64_t(pages) * std::uint64_t(page) : 0;
  for (const char* p : {"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"}) {
    std::uint64_t limit = read_limit(p);
    if (limit > 0 && (ram == 0 || limit < ram)) ram = limit;
  }
  return ram;
}

std::uint64_t data_bytes_on_disk(const fs::path& database_dir) {
  std::error_code ec;
  std::uint64_t total = 0;
  for (fs::directory_iterator it(database_dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->path().extension() != ".ibd") continue;
    std::error_code size_ec;
    auto n = it->file_size(size_ec);
    if (!size_ec) total += n;
  }
  return total;
}

std::vector<std::string> memory_options(const ManagedMemory& m) {
  return {
      "--innodb-buffer-pool-size=" + std::to_string(m.buffer_pool),
      "--innodb-buffer-pool-chunk-size=" + std::to_string(kPoolChunk),
      "--innodb-log-buffer-size=" + std::to_string(8 * kMiB),
      "--key-buffer-size=" + std::to_string(kMiB),              // MyISAM: no tables of ours
      "--aria-pagecache-buffer-size=" + std::to_string(8 * kMiB),  // internal temporary tables
      "--query-cache-size=0",
      "--query-cache-type=OFF",
      "--performance-schema=OFF",
  };
}

}  // namespace shicks::store
