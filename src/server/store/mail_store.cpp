#include "server/store/mail_store.hpp"

#include <algorithm>
#include <random>

#include <fmt/core.h>

#include "common/strings.hpp"
#include "server/auth/password.hpp"
#include "server/mail/trace.hpp"
#include "server/store/spam_store.hpp"
#include "server/store/sql.hpp"

namespace shicks::store {

// Addresses are stored with ASCII letters lowercased (sql/0001_init.sql).
AddressTargets lookup_address(Connection& c, const std::string& address_in, const std::string& domain_in) {
  std::string address = to_lower_ascii(address_in), domain = to_lower_ascii(domain_in);
  std::string catch_all = "@" + domain;
  auto rows = c.query(sql::kAddressTargets, {address, catch_all, address});
  AddressTargets out;
  if (!rows.empty()) {
    // Only the best match counts: the exact address shadows the catch-all.
    const std::string& best = rows.front().str(0);
    bool any = false;
    for (const auto& row : rows) {
      if (row.str(0) != best) break;
      any = true;
      if (row.i64(2) != 0) out.user_ids.push_back(row.u64(1));
    }
    if (any) {
      out.kind = out.user_ids.empty() ? AddressTargets::disabled : AddressTargets::local;
      return out;
    }
  }
  out.kind = c.query_one(sql::kDomainHeld, {domain}) ? AddressTargets::unknown_local : AddressTargets::foreign;
  return out;
}

bool sender_owned(Connection& c, const std::string& name, const std::string& address, const std::string& domain) {
  std::string catch_all = "@" + to_lower_ascii(domain);
  return c.query_one(sql::kSenderOwned, {name, to_lower_ascii(address), catch_all}).has_value();
}

LoginResult check_login(Connection& c, const std::string& login, const std::string& password) {
  auto rows = c.query(sql::kUserByName, {login});
  if (rows.empty() && login.find('@') != std::string::npos) {
    rows = c.query(sql::kUserByAddress, {to_lower_ascii(login)});
    if (rows.size() > 1) rows.clear();  // an alias of several users is no login name
  }
  LoginResult r;
  if (rows.empty()) {
    auth::verify_dummy(password);
    return r;
  }
  const Row& u = rows.front();
  bool match = auth::verify_password(password, u.str(2));
  if (!match || u.i64(3) == 0) return r;  // a disabled account fails like a bad password
  r.ok = true;
  r.user_id = u.u64(0);
  r.user = u.str(1);
  c.exec(sql::kTouchLogin, {r.user_id});
  return r;
}

std::uint64_t addresses_version(Connection& c) {
  auto row = c.query_one(sql::kAddressesVersion);
  return row ? row->u64(0) : 0;
}

bool delete_body_if_unreferenced(Connection& c, std::uint64_t m) {
  return c.exec(sql::kDeleteUnreferencedMessage, {m, m, m}) > 0;
}

std::uint64_t mailbox_size(const std::string& envelope_from, std::uint64_t body_size) {
  return mail::return_path_header(envelope_from).size() + body_size;
}

namespace {
// The mailboxes of a delivery, each once (an alias and a direct address may both
// reach a user), in id order.
std::vector<std::uint64_t> distinct_users(const Delivery& d) {
  std::vector<std::uint64_t> users = d.local_users;
  std::sort(users.begin(), users.end());
  users.erase(std::unique(users.begin(), users.end()), users.end());
  return users;
}

// An empty message still has one (empty) chunk.
std::size_t chunk_count(const Delivery& d) {
  return std::max<std::size_t>(1, (d.message.size() + kChunkBytes - 1) / kChunkBytes);
}

std::string random_hex(unsigned bytes) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  std::string out;
  for (unsigned i = 0; i < bytes; ++i) out += fmt::format("{:02x}", unsigned(rng() & 0xff));
  return out;
}
}  // namespace

Stored deliver(Connection& c, const Delivery& d) {
  return in_transaction(c, [&] { return deliver_rows(c, d); });
}

Stored deliver_rows(Connection& c, const Delivery& d) {
  const std::vector<std::uint64_t> users = distinct_users(d);
  const std::size_t chunks = chunk_count(d);

  c.exec(sql::kInsertMessage,
         {d.message.size(), chunks, d.envelope_from, d.header_from, d.subject});
  Stored s;
  s.message_id = c.last_insert_id();
  if (!d.spam_keyword.empty()) {
    mark_spam(c, s.message_id, d.spam_keyword);
    count_spam_hit(c, d.spam_keyword);
  }
  for (std::size_t i = 0; i < chunks; ++i) {
    std::string_view part = std::string_view(d.message).substr(i * kChunkBytes, kChunkBytes);
    c.exec(sql::kInsertChunk, {s.message_id, i, Param::bytes(part)});
  }
  std::uint64_t size = mailbox_size(d.envelope_from, d.message.size());
  for (std::uint64_t user : users) {
    // Unique forever: the message and user ids plus randomness (ids can be reused
    // after a restore; the random part keeps UIDLs from repeating).
    std::string uidl = fmt::format("{:x}.{:x}.{}", s.message_id, user, random_hex(6));
    c.exec(sql::kInsertMailboxEntry, {user, s.message_id, size, uidl});
  }
  for (const auto& rcpt : d.relay_recipients)
    c.exec(sql::kInsertRelay, {s.message_id, d.envelope_from, rcpt});
  s.queue_id = d.queue_id;
  return s;
}

namespace {
// Larger messages go by prepared statements: the server parses a script's quoted
// text byte by byte, which costs more than a binary parameter from a few dozen KiB on.
constexpr std::size_t kScriptedBytes = 32 * 1024;

// The script statements for batch[i] for every i in `which`, then "SELECT @m..." of
// their message ids (in that order).
std::string delivery_script(Connection& c, const std::vector<const Delivery*>& batch,
                            const std::vector<std::size_t>& which) {
  std::string q, select = "SELECT ";
  for (std::size_t i : which) {
    const Delivery& d = *batch[i];
    const std::vector<std::uint64_t> users = distinct_users(d);
    const std::size_t chunks = chunk_count(d);
    q += fmt::format(sql::script::kInsertMessage, d.message.size(), chunks, c.quote(d.envelope_from),
                     c.quote(d.header_from), c.quote(d.subject), i);
    if (!d.spam_keyword.empty()) q += fmt::format(sql::script::kSpamHit, c.quote(d.spam_keyword), i);
    q += sql::script::kChunksInsert;
    for (std::size_t k = 0; k < chunks; ++k) {
      if (k) q += ',';
      q += fmt::format(sql::script::kChunkRow, i, k,
                       c.quote(std::string_view(d.message).substr(k * kChunkBytes, kChunkBytes)));
    }
    q += ';';
    if (!users.empty()) {
      std::uint64_t size = mailbox_size(d.envelope_from, d.message.size());
      q += sql::script::kEntriesInsert;
      for (std::size_t k = 0; k < users.size(); ++k) {
        if (k) q += ',';
        q += fmt::format(sql::script::kEntryRow, users[k], i, size, random_hex(6));
      }
      q += ';';
    }
    if (!d.relay_recipients.empty()) {
      q += sql::script::kRelayInsert;
      for (std::size_t k = 0; k < d.relay_recipients.size(); ++k) {
        if (k) q += ',';
        q += fmt::format(sql::script::kRelayRow, i, c.quote(d.envelope_from), c.quote(d.relay_recipients[k]));
      }
      q += ';';
    }
    select += fmt::format("{}@m{}", select.size() > 7 ? "," : "", i);
  }
  return q + select;
}

void take_ids(const std::vector<Row>& rows, const std::vector<const Delivery*>& batch,
              const std::vector<std::size_t>& which, std::vector<Stored>& out, bool committed) {
  // After COMMIT a surprise here must not look like a refusal (the batch would be
  // written again): it is reported as an unknown outcome.
  if (rows.size() != 1 || rows.front().size() != which.size())
    throw DbError(0, committed, "delivery batch: the script returned no message ids");
  for (std::size_t k = 0; k < which.size(); ++k) {
    out[which[k]].message_id = rows.front().u64(k);
    out[which[k]].queue_id = batch[which[k]]->queue_id;
  }
}
}  // namespace

std::vector<Stored> deliver_batch(Connection& c, const std::vector<const Delivery*>& batch) {
  std::vector<std::size_t> scripted, prepared;
  for (std::size_t i = 0; i < batch.size(); ++i)
    (batch[i]->message.size() <= kScriptedBytes ? scripted : prepared).push_back(i);
  std::vector<Stored> out(batch.size());
  if (prepared.empty()) {
    // One round trip. The ids are read before COMMIT: a statement failing after
    // COMMIT would make a committed batch look refused.
    std::string q = "START TRANSACTION;" + delivery_script(c, batch, scripted) + ";COMMIT";
    std::vector<Row> rows;
    try {
      rows = c.run_script(q);
    } catch (const DbError& e) {
      if (!e.connection_lost) c.rollback();
      throw;
    }
    take_ids(rows, batch, scripted, out, true);
    return out;
  }
  in_transaction(c, [&] {
    if (!scripted.empty()) take_ids(c.run_script(delivery_script(c, batch, scripted)), batch, scripted, out, false);
    for (std::size_t i : prepared) out[i] = deliver_rows(c, *batch[i]);
  });
  return out;
}

}  // namespace shicks::store
