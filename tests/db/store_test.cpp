// The store against a real MariaDB: connections, statements, transactions,
// reconnects, the worker pool, migrations, default settings.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <future>
#include <thread>

#include <asio/bind_executor.hpp>
#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>
#include <asio/use_awaitable.hpp>

#include "db/db_fixture.hpp"
#include "server/config/runtime_settings.hpp"
#include "server/store/db_pool.hpp"
#include "server/store/migrations.hpp"
#include "server/store/settings_store.hpp"

using namespace shicks;
using namespace shicks::store;
using shicks::testing::ScratchDatabase;

namespace {
// Statements used only by these tests.
constexpr Sql kCreateT{"CREATE TABLE t (id INT PRIMARY KEY AUTO_INCREMENT, i BIGINT NULL, u BIGINT UNSIGNED NULL, "
                       "s VARCHAR(200) NULL, b LONGBLOB NULL) DEFAULT CHARSET=utf8mb4"};
constexpr Sql kInsertT{"INSERT INTO t (i, u, s, b) VALUES (?, ?, ?, ?)"};
constexpr Sql kSelectT{"SELECT id, i, u, s, b FROM t WHERE id = ?"};
constexpr Sql kCountT{"SELECT COUNT(*) FROM t"};
constexpr Sql kConnectionId{"SELECT CONNECTION_ID()"};
constexpr Sql kSleep{"SELECT SLEEP(?)"};

std::string all_bytes(std::size_t n) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = char((i * 131 + i / 7) & 0xff);
  return s;
}

void kill_connection(std::uint64_t id) {
  Connection admin(shicks::testing::server_options());
  admin.exec_text(fmt::format("KILL CONNECTION {}", id));
}
}  // namespace

TEST_CASE("prepared statements round-trip every parameter kind", "[db]") {
  ScratchDatabase db;
  Connection c(db.options());
  c.exec_text(kCreateT.text);
  std::string big = all_bytes(3 * 1024 * 1024 + 17);  // past the initial column buffer
  std::string text = "Gr\xC3\xBC\xC3\x9F" "e \xF0\x9F\x93\xAC";  // utf8mb4, with an emoji
  CHECK(c.exec(kInsertT, {std::int64_t(-42), std::uint64_t(UINT64_MAX), text, Param::bytes(big)}) == 1);
  auto id = c.last_insert_id();
  CHECK(id == 1);
  CHECK(c.exec(kInsertT, {nullptr, nullptr, nullptr, nullptr}) == 1);

  auto row = c.query_one(kSelectT, {id});
  REQUIRE(row);
  CHECK(row->i64(1) == -42);
  CHECK(row->u64(2) == UINT64_MAX);
  CHECK(row->str(3) == text);
  CHECK(row->str(4).size() == big.size());
  CHECK(row->str(4) == big);

  auto nulls = c.query_one(kSelectT, {2});
  REQUIRE(nulls);
  for (std::size_t i = 1; i < 5; ++i) CHECK(nulls->is_null(i));
  CHECK_FALSE(c.query_one(kSelectT, {99}).has_value());
  // The cached statement is reused, and a big column does not upset the next small one.
  for (int i = 0; i < 3; ++i) CHECK(c.query_one(kSelectT, {id})->str(3) == text);
  CHECK(c.query_one(kCountT)->u64(0) == 2);
}

TEST_CASE("a wrong parameter count is refused before anything runs", "[db]") {
  ScratchDatabase db;
  Connection c(db.options());
  c.exec_text(kCreateT.text);
  CHECK_THROWS_AS(c.exec(kInsertT, {1, 2}), DbError);
  CHECK(c.query_one(kCountT)->u64(0) == 0);
}

TEST_CASE("a duplicate key is a recognisable, non-fatal error", "[db]") {
  ScratchDatabase db;
  Connection c(db.options());
  migrate(c, embedded_migrations());
  constexpr Sql kAddUser{"INSERT INTO users (name, password_hash, created_at) VALUES (?, 'x', UTC_TIMESTAMP(6))"};
  c.exec(kAddUser, {"alice"});
  c.exec(kAddUser, {"alic\xC3\xA9"});  // binary collation: look-alikes are different names
  try {
    c.exec(kAddUser, {"alice"});
    FAIL("duplicate accepted");
  } catch (const DbError& e) {
    CHECK(e.is_duplicate_key());
    CHECK_FALSE(e.connection_lost);
  }
  CHECK(c.connected());
  c.exec(kAddUser, {"bob"});
}

TEST_CASE("transactions commit on return and roll back on exception", "[db]") {
  ScratchDatabase db;
  Connection c(db.options());
  c.exec_text(kCreateT.text);
  in_transaction(c, [&] { c.exec(kInsertT, {1, 1, "a", nullptr}); });
  CHECK_THROWS(in_transaction(c, [&] {
    c.exec(kInsertT, {2, 2, "b", nullptr});
    throw std::runtime_error("abort");
  }));
  CHECK(c.query_one(kCountT)->u64(0) == 1);
}

TEST_CASE("a killed connection is reported as lost, then replaced", "[db]") {
  ScratchDatabase db;
  Connection c(db.options());
  c.exec_text(kCreateT.text);
  auto id = c.query_one(kConnectionId)->u64(0);
  kill_connection(id);
  bool lost = false;
  try {
    c.query_one(kCountT);
  } catch (const DbError& e) {
    lost = e.connection_lost;
  }
  CHECK(lost);
  CHECK_FALSE(c.connected());
  // The next job reconnects with a fresh statement cache.
  CHECK(c.query_one(kCountT)->u64(0) == 0);
  CHECK(c.query_one(kConnectionId)->u64(0) != id);
}

TEST_CASE("a connection lost inside a transaction is never silently replaced", "[db]") {
  ScratchDatabase db;
  Connection c(db.options());
  c.exec_text(kCreateT.text);
  auto id = c.query_one(kConnectionId)->u64(0);
  bool threw = false;
  try {
    in_transaction(c, [&] {
      c.exec(kInsertT, {1, 1, "first half", nullptr});
      kill_connection(id);
      c.exec(kInsertT, {2, 2, "second half", nullptr});  // must not land on a new connection
    });
  } catch (const DbError& e) {
    threw = e.connection_lost;
  }
  CHECK(threw);
  CHECK(c.query_one(kCountT)->u64(0) == 0);  // neither half committed
}

TEST_CASE("an unreachable server is a connection error with the address in it", "[db]") {
  ConnectOptions o = shicks::testing::server_options();
  o.socket = "/nonexistent/mariadb.sock";
  Connection c(o);
  try {
    c.ensure_connected();
    FAIL("connected to nothing");
  } catch (const DbError& e) {
    CHECK(e.connection_lost);
    CHECK(std::string(e.what()).find("unix:/nonexistent/mariadb.sock") != std::string::npos);
  }
}

TEST_CASE("migrations apply once, in order, and a newer schema is refused", "[db]") {
  ScratchDatabase db;
  Connection c(db.options());
  auto first = migrate(c, embedded_migrations());
  CHECK(first.before == 0);
  CHECK(first.after == embedded_migrations().back().version);
  CHECK(first.applied.size() == embedded_migrations().size());
  auto again = migrate(c, embedded_migrations());
  CHECK(again.applied.empty());
  CHECK(again.before == first.after);

  // Every table of design.md exists.
  for (const char* t : {"users", "addresses", "address_targets", "messages", "message_chunks", "mailbox_entries",
                        "mailbox_leases", "relay_queue", "spam_keywords", "settings", "change_counters",
                        "schema_version"}) {
    INFO(t);
    auto rows = c.query_text(fmt::format("SHOW TABLES LIKE '{}'", t));
    CHECK(rows.size() == 1);
  }

  // A binary that knows fewer migrations than the database has refuses to start.
  std::vector<Migration> older(embedded_migrations().begin(), embedded_migrations().end());
  c.exec_text("INSERT INTO schema_version (version, name, applied_at) VALUES (999, '0999_future.sql', NOW())");
  try {
    migrate(c, older);
    FAIL("newer schema accepted");
  } catch (const StartupError& e) {
    CHECK(std::string(e.what()).find("newer") != std::string::npos);
  }
}

TEST_CASE("a history that disagrees with the binary's migrations is refused", "[db]") {
  ScratchDatabase db;
  Connection c(db.options());
  migrate(c, embedded_migrations());
  c.exec_text("UPDATE schema_version SET name = '0001_other.sql' WHERE version = 1");
  CHECK_THROWS_AS(migrate(c, embedded_migrations()), StartupError);
}

TEST_CASE("1 MiB body chunks fit through a prepared statement and come back exact", "[db]") {
  ScratchDatabase db;
  Connection c(db.options());
  migrate(c, embedded_migrations());
  constexpr Sql kMsg{"INSERT INTO messages (size, chunk_count, created_at) VALUES (?, 1, UTC_TIMESTAMP(6))"};
  constexpr Sql kChunk{"INSERT INTO message_chunks (message_id, seq, data) VALUES (?, ?, ?)"};
  constexpr Sql kRead{"SELECT data FROM message_chunks WHERE message_id = ? AND seq = ?"};
  std::string chunk = all_bytes(1024 * 1024);
  c.exec(kMsg, {chunk.size()});
  auto id = c.last_insert_id();
  c.exec(kChunk, {id, 0, Param::bytes(chunk)});
  CHECK(c.query_one(kRead, {id, 0})->str(0) == chunk);
}

TEST_CASE("default runtime settings are created once and never overwrite an admin's value", "[db]") {
  ScratchDatabase db;
  Connection c(db.options());
  migrate(c, embedded_migrations());
  CHECK(write_default_settings(c) == config::runtime_settings().size());
  c.exec_text("UPDATE settings SET value = 'reject' WHERE name = 'spam.action'");
  c.exec_text("DELETE FROM settings WHERE name = 'relay.port'");  // as if added by an upgrade
  CHECK(write_default_settings(c) == 1);
  auto all = all_settings(c);
  CHECK(all.size() == config::runtime_settings().size());
  for (auto& [k, v] : all) {
    if (k == "spam.action") CHECK(v == "reject");
    if (k == "relay.port") CHECK(v == "25");
  }
}

// ------------------------------------------------------------------ the pool

TEST_CASE("async_run completes on the caller's executor with the job's value", "[db]") {
  ScratchDatabase db;
  DbPool pool(db.options(), 2, 16);
  asio::io_context io;
  std::thread::id io_thread;
  std::thread::id resumed_on;
  std::uint64_t value = 0;
  auto task = [&]() -> asio::awaitable<void> {
    io_thread = std::this_thread::get_id();
    auto job = [](Connection& c) { return c.query_one(Sql{"SELECT 6 * 7"})->u64(0); };
    auto r = co_await async_run(pool, std::move(job), asio::use_awaitable);
    resumed_on = std::this_thread::get_id();
    REQUIRE(r);
    value = *r;
  };
  asio::co_spawn(io, task(), [](std::exception_ptr e) {
    if (e) std::rethrow_exception(e);
  });
  io.run();
  CHECK(value == 42);
  CHECK(resumed_on == io_thread);
}

TEST_CASE("a full queue answers busy at once instead of queuing without limit", "[db]") {
  ScratchDatabase db;
  DbPool pool(db.options(), 1, 1);
  std::promise<void> release;
  auto released = release.get_future().share();
  std::promise<void> started;
  // Occupy the only worker, then the only queue slot.
  REQUIRE(pool.try_submit([&started, released](Connection*) {
    started.set_value();
    released.wait();
  }));
  started.get_future().wait();
  REQUIRE(pool.try_submit([](Connection*) {}));

  asio::io_context io;
  std::optional<DbFailure::Kind> kind;
  async_run(pool, [](Connection&) { return 1; }, [&](DbResult<int> r) {
    if (!r) kind = r.error().kind;
  });
  io.run();  // nothing to run: the failure was posted to the system executor
  for (int i = 0; i < 100 && !kind; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  CHECK(kind == DbFailure::busy);
  release.set_value();
}

TEST_CASE("stopping the pool cancels queued jobs with 'stopped', never dropping them", "[db]") {
  ScratchDatabase db;
  auto pool = std::make_unique<DbPool>(db.options(), 1, 8);
  std::promise<void> release;
  auto released = release.get_future().share();
  std::promise<void> started;
  REQUIRE(pool->try_submit([&started, released](Connection*) {
    started.set_value();
    released.wait();
  }));
  started.get_future().wait();
  std::atomic<int> cancelled{0}, ran{0};
  for (int i = 0; i < 3; ++i)
    REQUIRE(pool->try_submit([&](Connection* c) { (c ? ran : cancelled)++; }));
  std::thread stopper([&] { pool->stop(); });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  release.set_value();
  stopper.join();
  CHECK(cancelled + ran == 3);
  CHECK(cancelled == 3);
  CHECK_FALSE(pool->try_submit([](Connection*) {}));
}

TEST_CASE("a database that is down gives 'unavailable' with the outcome marked unknown", "[db]") {
  ConnectOptions o = shicks::testing::server_options();
  o.socket = "/nonexistent/mariadb.sock";
  DbPool pool(o, 1, 4);
  asio::io_context io;
  std::optional<DbFailure> failure;
  auto guard = asio::make_work_guard(io);
  async_run(pool, [](Connection& c) { return c.query_one(Sql{"SELECT 1"})->u64(0); },
            asio::bind_executor(io, [&](DbResult<std::uint64_t> r) {
              if (!r) failure = r.error();
              guard.reset();
            }));
  io.run();
  REQUIRE(failure);
  CHECK(failure->kind == DbFailure::unavailable);
  CHECK(failure->outcome_unknown);
}

TEST_CASE("non-durable servers are refused unless allowed", "[db][serial]") {
  Connection admin(shicks::testing::server_options());
  CHECK_NOTHROW(check_durability(admin, false));
  admin.exec_text("SET GLOBAL innodb_flush_log_at_trx_commit = 2");
  bool refused = false;
  try {
    check_durability(admin, false);
  } catch (const StartupError& e) {
    refused = std::string(e.what()).find("innodb_flush_log_at_trx_commit = 2") != std::string::npos;
  }
  CHECK_NOTHROW(check_durability(admin, true));
  admin.exec_text("SET GLOBAL innodb_flush_log_at_trx_commit = 1");
  CHECK(refused);
}

TEST_CASE("a deadlock victim runs again on a clean slate, other errors do not", "[db]") {
  ScratchDatabase db;
  Connection c(db.options());
  c.exec_text(kCreateT.text);
  int runs = 0;
  auto value = in_transaction_retrying(c, [&] {
    c.exec(kInsertT, {runs, 0, "try", nullptr});
    if (++runs < 3) throw DbError(1213, false, "Deadlock found when trying to get lock");
    return runs;
  });
  CHECK(value == 3);
  CHECK(c.query_one(kCountT)->u64(0) == 1);  // the two rolled-back attempts left nothing

  runs = 0;
  CHECK_THROWS_AS(in_transaction_retrying(c, [&] {
                    ++runs;
                    throw DbError(1213, false, "deadlock");
                  }),
                  DbError);
  CHECK(runs == 5);
  runs = 0;
  CHECK_THROWS_AS(in_transaction_retrying(c, [&] {
                    ++runs;
                    throw DbError(1062, false, "duplicate");
                  }),
                  DbError);
  CHECK(runs == 1);
}

TEST_CASE("a real deadlock: the victim's transaction is run again and commits", "[db]") {
  ScratchDatabase db;
  Connection a(db.options()), b(db.options());
  a.exec_text(kCreateT.text);
  for (int i = 0; i < 12; ++i) a.exec(kInsertT, {i, 0, "row", nullptr});
  constexpr Sql kSet{"UPDATE t SET u = ? WHERE id = ?"};
  // A changes many rows first, so InnoDB picks B (fewer changes) as the victim.
  a.begin();
  for (int id = 3; id <= 12; ++id) a.exec(kSet, {1u, id});
  a.exec(kSet, {1u, 1});
  std::atomic<int> runs{0};
  auto other = std::async(std::launch::async, [&] {
    return in_transaction_retrying(b, [&] {
      ++runs;
      b.exec(kSet, {2u, 2});
      b.exec(kSet, {2u, 1});  // waits for A
      return true;
    });
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  a.exec(kSet, {1u, 2});  // A now waits for B: a deadlock; B is rolled back, A gets row 2
  a.commit();
  CHECK(other.get());
  CHECK(runs.load() >= 2);
  constexpr Sql kU{"SELECT u FROM t WHERE id = ?"};
  CHECK(a.query_one(kU, {1})->u64(0) == 2);  // B ran again after A and won both rows
  CHECK(a.query_one(kU, {2})->u64(0) == 2);
}
