#include "server/store/connection.hpp"

#include <mysql.h>
#include <mysqld_error.h>
#include <errmsg.h>

#include <charconv>
#include <cstring>
#include <mutex>

#include <fmt/core.h>

namespace shicks::store {

namespace {
void library_init_once() {
  static std::once_flag once;
  std::call_once(once, [] { mysql_library_init(0, nullptr, nullptr); });
}

bool is_connection_error(unsigned code) {
  switch (code) {
    case CR_SERVER_GONE_ERROR:
    case CR_SERVER_LOST:
    case CR_CONNECTION_ERROR:
    case CR_CONN_HOST_ERROR:
    case CR_UNKNOWN_HOST:
    case CR_SERVER_LOST_EXTENDED:
    case CR_COMMANDS_OUT_OF_SYNC:
    case ER_CONNECTION_KILLED:
    case ER_SERVER_SHUTDOWN:
    case ER_QUERY_INTERRUPTED:
    case 4031:  // ER_CLIENT_INTERACTION_TIMEOUT
      return true;
    default:
      return false;
  }
}

constexpr auto kIdlePing = std::chrono::seconds(30);

// The rows of a text-protocol result, which it frees.
std::vector<Row> take_rows(MYSQL_RES* res) {
  std::vector<Row> rows;
  unsigned n = mysql_num_fields(res);
  while (MYSQL_ROW r = mysql_fetch_row(res)) {
    unsigned long* len = mysql_fetch_lengths(res);
    Row row;
    row.cols.resize(n);
    for (unsigned i = 0; i < n; ++i)
      if (r[i]) row.cols[i].emplace(r[i], len[i]);
    rows.push_back(std::move(row));
  }
  mysql_free_result(res);
  return rows;
}
constexpr unsigned long kInitialColumnBuffer = 256;
}  // namespace

// ------------------------------------------------------------------ Row
const std::string& Row::str(std::size_t i) const {
  static const std::string empty;
  const auto& c = cols.at(i);
  return c ? *c : empty;
}

std::int64_t Row::i64(std::size_t i) const {
  const auto& c = cols.at(i);
  if (!c) return 0;
  std::int64_t v = 0;
  auto [p, ec] = std::from_chars(c->data(), c->data() + c->size(), v);
  if (ec != std::errc() || p != c->data() + c->size()) throw DbError(0, false, "not an integer column: " + *c);
  return v;
}

std::uint64_t Row::u64(std::size_t i) const {
  const auto& c = cols.at(i);
  if (!c) return 0;
  std::uint64_t v = 0;
  auto [p, ec] = std::from_chars(c->data(), c->data() + c->size(), v);
  if (ec != std::errc() || p != c->data() + c->size()) throw DbError(0, false, "not an unsigned column: " + *c);
  return v;
}

std::string Row::take(std::size_t i) {
  auto& c = cols.at(i);
  return c ? std::move(*c) : std::string();
}

std::string ConnectOptions::describe() const {
  if (!socket.empty()) return "unix:" + socket;
  return fmt::format("{}:{}", host, port);
}

// ------------------------------------------------------------------ Connection
Connection::Connection(ConnectOptions opts) : opts_(std::move(opts)) { library_init_once(); }

Connection::~Connection() { disconnect(); }

void Connection::disconnect() {
  for (auto& [_, stmt] : stmts_) mysql_stmt_close(stmt);
  stmts_.clear();
  if (mysql_) {
    mysql_close(mysql_);
    mysql_ = nullptr;
  }
}

void Connection::fail(const char* what) {
  unsigned code = mysql_ ? mysql_errno(mysql_) : 0;
  std::string msg = fmt::format("{}: {} ({})", what, mysql_ ? mysql_error(mysql_) : "not connected", code);
  bool lost = is_connection_error(code) || (code >= 2000 && code < 3000);
  if (lost) disconnect();
  throw DbError(code, lost, msg);
}

void Connection::fail_stmt(MYSQL_STMT* stmt, const char* what) {
  unsigned code = mysql_stmt_errno(stmt);
  std::string msg = fmt::format("{}: {} ({})", what, mysql_stmt_error(stmt), code);
  bool lost = is_connection_error(code) || (code >= 2000 && code < 3000);
  if (lost) {
    disconnect();
  } else {
    mysql_stmt_reset(stmt);
  }
  throw DbError(code, lost, msg);
}

void Connection::ensure_connected() {
  auto now = std::chrono::steady_clock::now();
  if (in_tx_) {
    if (!mysql_) throw DbError(CR_SERVER_LOST, true, "connection lost inside a transaction");
    return;
  }
  if (mysql_ && now - last_used_ > kIdlePing) {
    if (mysql_ping(mysql_) != 0) disconnect();
  }
  last_used_ = now;
  if (mysql_) return;

  MYSQL* m = mysql_init(nullptr);
  if (!m) throw DbError(0, true, "mysql_init: out of memory");
  unsigned ct = opts_.connect_timeout_seconds, rt = opts_.read_timeout_seconds, wt = opts_.write_timeout_seconds;
  my_bool no = 0;
  mysql_options(m, MYSQL_OPT_CONNECT_TIMEOUT, &ct);
  mysql_options(m, MYSQL_OPT_READ_TIMEOUT, &rt);
  mysql_options(m, MYSQL_OPT_WRITE_TIMEOUT, &wt);
  mysql_options(m, MYSQL_OPT_RECONNECT, &no);  // we reconnect ourselves, with a fresh statement cache
  mysql_options(m, MYSQL_SET_CHARSET_NAME, "utf8mb4");
  // Every session works in UTC and strict mode: bad data is an error, never truncated.
  mysql_options(m, MYSQL_INIT_COMMAND,
                "SET time_zone = '+00:00', sql_mode = 'STRICT_ALL_TABLES,NO_ZERO_DATE,NO_ENGINE_SUBSTITUTION'");
  const char* host = opts_.socket.empty() ? opts_.host.c_str() : "localhost";
  const char* sock = opts_.socket.empty() ? nullptr : opts_.socket.c_str();
  const char* db = opts_.database.empty() ? nullptr : opts_.database.c_str();
  const char* pass = opts_.password.empty() ? nullptr : opts_.password.c_str();
  if (!mysql_real_connect(m, host, opts_.user.c_str(), pass, db, opts_.port, sock, CLIENT_FOUND_ROWS | CLIENT_MULTI_STATEMENTS)) {
    unsigned code = mysql_errno(m);
    std::string msg = fmt::format("cannot connect to the database at {} as {}: {} ({})", opts_.describe(),
                                  opts_.user.empty() ? "(default user)" : opts_.user, mysql_error(m), code);
    mysql_close(m);
    throw DbError(code, true, msg);
  }
  mysql_ = m;
}

MYSQL_STMT* Connection::prepare(const Sql& sql) {
  ensure_connected();
  if (auto it = stmts_.find(sql.text); it != stmts_.end()) return it->second;
  MYSQL_STMT* stmt = mysql_stmt_init(mysql_);
  if (!stmt) fail("mysql_stmt_init");
  if (mysql_stmt_prepare(stmt, sql.text, std::strlen(sql.text)) != 0) {
    unsigned code = mysql_stmt_errno(stmt);
    std::string msg = fmt::format("prepare \"{}\": {} ({})", sql.text, mysql_stmt_error(stmt), code);
    mysql_stmt_close(stmt);
    bool lost = is_connection_error(code) || (code >= 2000 && code < 3000);
    if (lost) disconnect();
    throw DbError(code, lost, msg);
  }
  stmts_.emplace(sql.text, stmt);
  return stmt;
}

std::uint64_t Connection::run(const Sql& sql, const Param* params, std::size_t n, std::vector<Row>* rows) {
  MYSQL_STMT* stmt = prepare(sql);
  if (mysql_stmt_param_count(stmt) != n)
    throw DbError(0, false, fmt::format("statement wants {} parameters, got {}: {}", mysql_stmt_param_count(stmt), n,
                                        sql.text));
  std::vector<MYSQL_BIND> binds(n);
  for (std::size_t i = 0; i < n; ++i) {
    MYSQL_BIND& b = binds[i];
    std::memset(&b, 0, sizeof b);
    const Param& p = params[i];
    switch (p.kind) {
      case Param::null: b.buffer_type = MYSQL_TYPE_NULL; break;
      case Param::i64:
        b.buffer_type = MYSQL_TYPE_LONGLONG;
        b.buffer = const_cast<std::int64_t*>(&p.i);
        break;
      case Param::u64:
        b.buffer_type = MYSQL_TYPE_LONGLONG;
        b.buffer = const_cast<std::uint64_t*>(&p.u);
        b.is_unsigned = 1;
        break;
      case Param::dbl:
        b.buffer_type = MYSQL_TYPE_DOUBLE;
        b.buffer = const_cast<double*>(&p.d);
        break;
      case Param::text:
      case Param::blob:
        b.buffer_type = p.kind == Param::text ? MYSQL_TYPE_STRING : MYSQL_TYPE_BLOB;
        b.buffer = const_cast<char*>(p.s.data());
        b.buffer_length = p.s.size();
        break;
    }
  }
  if (n > 0 && mysql_stmt_bind_param(stmt, binds.data()) != 0) fail_stmt(stmt, "bind");
  if (mysql_stmt_execute(stmt) != 0) fail_stmt(stmt, "execute");
  last_used_ = std::chrono::steady_clock::now();

  MYSQL_RES* meta = mysql_stmt_result_metadata(stmt);
  if (!meta) {
    if (mysql_stmt_field_count(stmt) != 0) fail_stmt(stmt, "result metadata");
    last_insert_id_ = mysql_stmt_insert_id(stmt);
    return mysql_stmt_affected_rows(stmt);
  }
  unsigned ncols = mysql_num_fields(meta);
  mysql_free_result(meta);

  std::vector<MYSQL_BIND> out(ncols);
  std::vector<std::string> bufs(ncols, std::string(kInitialColumnBuffer, '\0'));
  std::vector<unsigned long> lengths(ncols, 0);
  std::vector<my_bool> nulls(ncols, 0), errors(ncols, 0);
  auto bind_out = [&] {
    for (unsigned i = 0; i < ncols; ++i) {
      std::memset(&out[i], 0, sizeof out[i]);
      out[i].buffer_type = MYSQL_TYPE_STRING;
      out[i].buffer = bufs[i].data();
      out[i].buffer_length = bufs[i].size();
      out[i].length = &lengths[i];
      out[i].is_null = &nulls[i];
      out[i].error = &errors[i];
    }
    if (mysql_stmt_bind_result(stmt, out.data()) != 0) fail_stmt(stmt, "bind result");
  };
  bind_out();
  std::uint64_t count = 0;
  for (;;) {
    int rc = mysql_stmt_fetch(stmt);
    if (rc == MYSQL_NO_DATA) break;
    if (rc == 1) fail_stmt(stmt, "fetch");
    Row row;
    row.cols.resize(ncols);
    bool rebind = false;
    for (unsigned i = 0; i < ncols; ++i) {
      if (nulls[i]) continue;
      if (lengths[i] > bufs[i].size()) {
        // MYSQL_DATA_TRUNCATED: fetch the whole column into a buffer of the right size.
        bufs[i].resize(lengths[i]);
        MYSQL_BIND col;
        std::memset(&col, 0, sizeof col);
        col.buffer_type = MYSQL_TYPE_STRING;
        col.buffer = bufs[i].data();
        col.buffer_length = bufs[i].size();
        unsigned long len = 0;
        col.length = &len;
        if (mysql_stmt_fetch_column(stmt, &col, i, 0) != 0) fail_stmt(stmt, "fetch column");
        rebind = true;
      }
      row.cols[i].emplace(bufs[i].data(), lengths[i]);
    }
    if (rebind) bind_out();
    if (rows) rows->push_back(std::move(row));
    ++count;
  }
  mysql_stmt_free_result(stmt);
  return count;
}

std::uint64_t Connection::exec(const Sql& sql, std::initializer_list<Param> params) {
  return run(sql, params.begin(), params.size(), nullptr);
}
std::uint64_t Connection::exec(const Sql& sql, const std::vector<Param>& params) {
  return run(sql, params.data(), params.size(), nullptr);
}
std::vector<Row> Connection::query(const Sql& sql, std::initializer_list<Param> params) {
  std::vector<Row> rows;
  run(sql, params.begin(), params.size(), &rows);
  return rows;
}
std::vector<Row> Connection::query(const Sql& sql, const std::vector<Param>& params) {
  std::vector<Row> rows;
  run(sql, params.data(), params.size(), &rows);
  return rows;
}
std::optional<Row> Connection::query_one(const Sql& sql, std::initializer_list<Param> params) {
  auto rows = query(sql, params);
  if (rows.empty()) return std::nullopt;
  return std::move(rows.front());
}

void Connection::exec_text(std::string_view text) {
  ensure_connected();
  if (mysql_real_query(mysql_, text.data(), text.size()) != 0) fail("query");
  // Drain every result so the connection stays in sync.
  do {
    if (MYSQL_RES* r = mysql_store_result(mysql_)) mysql_free_result(r);
    else if (mysql_field_count(mysql_) != 0) fail("store result");
  } while (mysql_next_result(mysql_) == 0);
  if (mysql_errno(mysql_) != 0) fail("query");
  last_used_ = std::chrono::steady_clock::now();
}

std::vector<Row> Connection::query_text(std::string_view text) {
  ensure_connected();
  if (mysql_real_query(mysql_, text.data(), text.size()) != 0) fail("query");
  MYSQL_RES* res = mysql_store_result(mysql_);
  if (!res) {
    if (mysql_field_count(mysql_) != 0) fail("store result");
    return {};
  }
  std::vector<Row> rows = take_rows(res);
  last_used_ = std::chrono::steady_clock::now();
  return rows;
}

std::vector<Row> Connection::run_script(std::string_view text) {
  ensure_connected();
  std::vector<Row> last;
  if (mysql_real_query(mysql_, text.data(), text.size()) != 0) fail("script");
  for (;;) {
    if (MYSQL_RES* res = mysql_store_result(mysql_)) {
      std::vector<Row> rows = take_rows(res);
      if (!rows.empty()) last = std::move(rows);
    } else if (mysql_field_count(mysql_) != 0) {
      fail("script result");
    }
    int next = mysql_next_result(mysql_);
    if (next < 0) break;        // no more results
    if (next > 0) fail("script");  // this statement failed; the rest did not run
  }
  last_used_ = std::chrono::steady_clock::now();
  return last;
}

std::string Connection::quote(std::string_view value) {
  ensure_connected();
  std::string out(value.size() * 2 + 3, '\0');
  out[0] = '\'';
  unsigned long n = mysql_real_escape_string(mysql_, out.data() + 1, value.data(), value.size());
  if (n == static_cast<unsigned long>(-1)) fail("escape");
  out[n + 1] = '\'';
  out.resize(n + 2);
  return out;
}

void Connection::begin() {
  exec_text("START TRANSACTION");
  in_tx_ = true;
}

void Connection::commit() {
  ensure_connected();
  in_tx_ = false;
  if (mysql_commit(mysql_) != 0) fail("commit");
}

void Connection::rollback() noexcept {
  in_tx_ = false;
  if (mysql_) {
    if (mysql_rollback(mysql_) != 0) disconnect();
  }
}

std::string Connection::server_version() {
  ensure_connected();
  return mysql_get_server_info(mysql_);
}

}  // namespace shicks::store
