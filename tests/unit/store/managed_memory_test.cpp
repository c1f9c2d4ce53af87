#include "server/store/managed_memory.hpp"

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>

#include <catch2/catch.hpp>

using namespace shicks::store;
namespace fs = std::filesystem;

namespace {
constexpr std::uint64_t GiB = std::uint64_t(1) << 30;
}

TEST_CASE("managed memory: the automatic budget is an eighth of the machine, within bounds", "[store]") {
  CHECK(auto_budget(0) == kMinBudget);
  CHECK(auto_budget(256 * kMiB) == kMinBudget);  // a small board: 64 MiB, not 32
  CHECK(auto_budget(1 * GiB) == 128 * kMiB);
  CHECK(auto_budget(8 * GiB) == 1 * GiB);
  CHECK(auto_budget(24 * GiB) == 3 * GiB);
  CHECK(auto_budget(256 * GiB) == kMaxAutoBudget);
  CHECK(auto_budget(1 * GiB + 12345) % kPoolChunk == 0);
}

TEST_CASE("managed memory: the pool is what the data wants, within the minimum and the budget", "[store]") {
  CHECK(pool_for(0, GiB) == kMinPool);                     // a new database
  CHECK(pool_for(10 * kMiB, GiB) == kMinPool);
  CHECK(pool_for(100 * kMiB, GiB) == 128 * kMiB);          // 125 MiB, rounded up to the chunk
  CHECK(pool_for(100 * kMiB + 1, GiB) == 128 * kMiB);
  CHECK(pool_for(800 * kMiB, GiB) == 1000 * kMiB);
  CHECK(pool_for(900 * kMiB, GiB) == GiB);                 // 1125 MiB wanted: the budget
  CHECK(pool_for(100 * GiB, GiB) == GiB);
  CHECK(pool_for(0, 16 * kMiB) == 16 * kMiB);              // a budget below the minimum wins
  for (std::uint64_t d : {std::uint64_t(0), 3 * kMiB, 77 * kMiB, 5 * GiB}) CHECK(pool_for(d, 2 * GiB) % kPoolChunk == 0);
}

TEST_CASE("managed memory: the plan follows the configuration", "[store]") {
  shicks::config::DatabaseConfig db;
  SECTION("automatic") {
    auto m = plan_memory(db, 8 * GiB, 200 * kMiB);
    CHECK_FALSE(m.fixed);
    CHECK(m.budget == GiB);
    CHECK(m.buffer_pool == 256 * kMiB);
  }
  SECTION("managed_memory_mb bounds the automatic size") {
    db.managed_memory_mb = 100;
    auto m = plan_memory(db, 8 * GiB, 200 * kMiB);
    CHECK_FALSE(m.fixed);
    CHECK(m.budget == 100 * kMiB);
    CHECK(m.buffer_pool == 96 * kMiB);  // the budget, in whole chunks
  }
  SECTION("buffer_pool_bytes fixes the pool") {
    db.buffer_pool_bytes = 48 * kMiB;
    auto m = plan_memory(db, 8 * GiB, 5 * GiB);
    CHECK(m.fixed);
    CHECK(m.buffer_pool == 48 * kMiB);
    CHECK(m.budget == 48 * kMiB);
  }
}

TEST_CASE("managed memory: the pool grows by a quarter or more, never shrinks", "[store]") {
  CHECK(grown_pool(kMinPool, 0, GiB) == 0);
  CHECK(grown_pool(kMinPool, 24 * kMiB, GiB) == 0);            // wants 32: as it is
  CHECK(grown_pool(kMinPool, 30 * kMiB, GiB) == 40 * kMiB);    // wants 40 of 32: +25%
  CHECK(grown_pool(128 * kMiB, 110 * kMiB, GiB) == 0);         // wants 144 of 128: under a quarter
  CHECK(grown_pool(128 * kMiB, 130 * kMiB, GiB) == 168 * kMiB);
  CHECK(grown_pool(512 * kMiB, 10 * kMiB, GiB) == 0);          // never smaller
  CHECK(grown_pool(GiB, 100 * GiB, GiB) == 0);                 // at the budget
  CHECK(grown_pool(900 * kMiB, 100 * GiB, GiB) == 0);          // 1024 of 900: under a quarter
  CHECK(grown_pool(512 * kMiB, 100 * GiB, GiB) == GiB);
}

TEST_CASE("managed memory: the data on disk is the InnoDB files of the database", "[store]") {
  fs::path dir = fs::temp_directory_path() / ("shicks-mm-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  CHECK(data_bytes_on_disk(dir) == 0);  // not there yet
  fs::create_directories(dir);
  std::ofstream(dir / "messages.ibd") << std::string(3000, 'x');
  std::ofstream(dir / "users.ibd") << std::string(1000, 'x');
  std::ofstream(dir / "db.opt") << std::string(500, 'x');
  CHECK(data_bytes_on_disk(dir) == 4000);
  fs::remove_all(dir);
}

TEST_CASE("managed memory: mariadbd gets the pool, its chunk and small caches for what Shicks does not use", "[store]") {
  ManagedMemory m;
  m.buffer_pool = 40 * kMiB;
  auto opts = memory_options(m);
  auto has = [&](const std::string& o) { return std::find(opts.begin(), opts.end(), o) != opts.end(); };
  CHECK(has("--innodb-buffer-pool-size=41943040"));
  CHECK(has("--innodb-buffer-pool-chunk-size=8388608"));
  CHECK(has("--key-buffer-size=1048576"));
  CHECK(has("--performance-schema=OFF"));
}

TEST_CASE("managed memory: the machine has some memory", "[store]") { CHECK(machine_memory_bytes() > 64 * kMiB); }
