#pragma once
// One MySQL/MariaDB connection with its prepared-statement cache. Owned by exactly
// one DB worker thread (see db_pool.hpp); never shared. <mysql.h> stays in the .cpp.
//
// Domain outcomes are return values; infrastructure failures throw DbError.
#include <chrono>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "server/store/sql.hpp"

struct st_mysql;
struct st_mysql_stmt;

namespace shicks::store {

struct DbError : std::runtime_error {
  DbError(unsigned code, bool connection_lost, const std::string& what)
      : std::runtime_error(what), code(code), connection_lost(connection_lost) {}
  unsigned code;         // server or client error number (0: ours)
  bool connection_lost;  // the connection is gone; the outcome of an in-flight commit is unknown
  bool is_duplicate_key() const { return code == 1062; }
  bool is_deadlock() const { return code == 1213 || code == 1205; }
};

// A statement parameter; text and blobs are views that must outlive the call.
struct Param {
  enum Kind { null, i64, u64, dbl, text, blob } kind = null;
  std::int64_t i = 0;
  std::uint64_t u = 0;
  double d = 0;
  std::string_view s;

  Param(std::nullptr_t) {}
  Param(int v) : kind(i64), i(v) {}
  Param(long v) : kind(i64), i(v) {}
  Param(long long v) : kind(i64), i(v) {}
  Param(unsigned v) : kind(u64), u(v) {}
  Param(unsigned long v) : kind(u64), u(v) {}
  Param(unsigned long long v) : kind(u64), u(v) {}
  Param(bool v) : kind(i64), i(v ? 1 : 0) {}
  Param(double v) : kind(dbl), d(v) {}
  Param(std::string_view v) : kind(text), s(v) {}
  Param(const std::string& v) : kind(text), s(v) {}
  Param(const char* v) : kind(text), s(v) {}
  template <class T>
  Param(const std::optional<T>& v) : Param(v ? Param(*v) : Param(nullptr)) {}
  static Param bytes(std::string_view v) {
    Param p(v);
    p.kind = blob;
    return p;
  }
};

// A fetched row; every column arrives as its text (numbers) or bytes (blobs).
class Row {
 public:
  std::vector<std::optional<std::string>> cols;

  std::size_t size() const { return cols.size(); }
  bool is_null(std::size_t i) const { return !cols.at(i).has_value(); }
  const std::string& str(std::size_t i) const;       // "" for NULL
  std::int64_t i64(std::size_t i) const;             // 0 for NULL
  std::uint64_t u64(std::size_t i) const;            // 0 for NULL
  std::string take(std::size_t i);                   // moves the column out
};

struct ConnectOptions {
  std::string host;  // ignored when socket is set
  unsigned port = 3306;
  std::string socket;
  std::string user;
  std::string password;
  std::string database;  // may be empty (managed bootstrap)
  unsigned connect_timeout_seconds = 5;
  unsigned read_timeout_seconds = 30;
  unsigned write_timeout_seconds = 30;

  std::string describe() const;  // "unix:/path" or "host:port", for messages
};

class Connection {
 public:
  explicit Connection(ConnectOptions opts);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Connects when not connected; pings after a long idle period so a connection the
  // server dropped is replaced before a statement fails on it.
  void ensure_connected();
  bool connected() const { return mysql_ != nullptr; }
  void disconnect();

  // Prepared statements (cached per connection).
  std::uint64_t exec(const Sql& sql, std::initializer_list<Param> params = {});
  std::uint64_t exec(const Sql& sql, const std::vector<Param>& params);
  std::vector<Row> query(const Sql& sql, std::initializer_list<Param> params = {});
  std::vector<Row> query(const Sql& sql, const std::vector<Param>& params);
  std::optional<Row> query_one(const Sql& sql, std::initializer_list<Param> params = {});
  std::uint64_t last_insert_id() const { return last_insert_id_; }

  // Plain text statements for DDL and migrations (no parameters, results discarded).
  void exec_text(std::string_view sql);
  // Text query returning rows (diagnostics such as SHOW VARIABLES).
  std::vector<Row> query_text(std::string_view sql);
  // A script: several statements sent in one round trip, for the hot paths where
  // round trips dominate (delivery_batcher.cpp). Returns the rows of the last result
  // set that has any. When a statement fails, those after it do not run, and a
  // transaction the script opened stays open: the caller rolls back. Every value in
  // a script must come from quote() or be a number formatted by us.
  std::vector<Row> run_script(std::string_view sql);
  // A string or byte literal for a script: quoted and escaped for this connection's
  // character set and SQL mode (connects when needed).
  std::string quote(std::string_view value);

  void begin();
  void commit();
  void rollback() noexcept;

  const ConnectOptions& options() const { return opts_; }
  std::string server_version();

 private:
  [[noreturn]] void fail(const char* what);
  [[noreturn]] void fail_stmt(st_mysql_stmt* stmt, const char* what);
  st_mysql_stmt* prepare(const Sql& sql);
  std::uint64_t run(const Sql& sql, const Param* params, std::size_t n, std::vector<Row>* rows);

  ConnectOptions opts_;
  st_mysql* mysql_ = nullptr;
  std::unordered_map<const char*, st_mysql_stmt*> stmts_;
  std::uint64_t last_insert_id_ = 0;
  std::chrono::steady_clock::time_point last_used_{};
  bool in_tx_ = false;  // a reconnect inside a transaction would silently split it
};

// Runs `f` inside a transaction: commit on return, rollback on exception.
template <class F>
auto in_transaction(Connection& c, F&& f) -> decltype(f()) {
  c.begin();
  try {
    if constexpr (std::is_void_v<decltype(f())>) {
      f();
      c.commit();
    } else {
      auto r = f();
      c.commit();
      return r;
    }
  } catch (...) {
    c.rollback();
    throw;
  }
}

// in_transaction, run again (up to `attempts` times in all) when the database chose
// it as a deadlock victim or a lock wait timed out: InnoDB has then rolled it back
// whole, so `f` starts over on a clean slate. For short transactions that may
// meet others on the same index gaps (leases, deletions); `f` must have no effect
// outside the transaction.
template <class F>
auto in_transaction_retrying(Connection& c, F&& f, int attempts = 5) -> decltype(f()) {
  for (int i = 1;; ++i) {
    try {
      return in_transaction(c, f);
    } catch (const DbError& e) {
      if (!e.is_deadlock() || e.connection_lost || i >= attempts) throw;
    }
  }
}

}  // namespace shicks::store
