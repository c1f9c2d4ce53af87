#include "server/store/admin_store.hpp"

#include <algorithm>
#include <map>
#include <set>

#include <fmt/core.h>

#include "server/admin/rules.hpp"
#include "server/auth/password.hpp"
#include "server/config/runtime_settings.hpp"
#include "server/spam/subject.hpp"
#include "server/spam/tag.hpp"
#include "server/store/mail_store.hpp"
#include "server/store/settings_store.hpp"
#include "server/store/sql.hpp"

namespace shicks::admin {

using namespace shicks::store;
namespace setting = config::setting;
namespace {

constexpr const char* kSettingsCounter = "settings";
constexpr const char* kKeywordsCounter = "spam_keywords";
// Recipient lookups cached by the daemons (daemon/address_cache.hpp) are forgotten
// when this moves: every change to addresses, their targets or users' enabled state.
constexpr const char* kAddressesCounter = "addresses";

// Runs `f` in a transaction that commits when it returns a value and rolls back
// when it returns a refusal or throws.
template <class F>
auto transact(Connection& c, F&& f) -> decltype(f()) {
  c.begin();
  try {
    auto r = f();
    if (r) c.commit();
    else c.rollback();
    return r;
  } catch (...) {
    c.rollback();
    throw;
  }
}

Unexpected<std::string> refuse(std::string msg) { return unexpected(std::move(msg)); }

std::string no_such_user(const std::string& name) { return fmt::format("no such user \"{}\"", name); }

// A live POP3 lease: the session has a snapshot of the maildrop (and may have
// message starts cached), so neither the mailbox nor the user may go under it.
// Called with the user's row locked FOR UPDATE: a session taking the lease now
// (its insert checks the row) waits for this transaction.
std::optional<std::string> maildrop_in_use(Connection& c, std::uint64_t id, const std::string& user) {
  if (!c.query_one(sql::kAdminMailboxLease, {id})) return std::nullopt;
  return fmt::format("the mailbox of \"{}\" is open in a POP3 session; try again when it ends", user);
}

// The user's id, its row locked for the rest of the transaction.
std::optional<std::uint64_t> user_id(Connection& c, const std::string& name) {
  auto row = c.query_one(sql::kAdminUserId, {name});
  if (!row) return std::nullopt;
  return row->u64(0);
}

UserSummary summary_from(Row& r) {
  UserSummary s;
  s.name = r.take(0);
  s.enabled = r.i64(1) != 0;
  s.created_at = r.str(2);
  s.last_login_at = r.str(3);
  s.addresses = r.u64(4);
  s.messages = r.u64(5);
  s.mailbox_bytes = r.u64(6);
  return s;
}

std::optional<UserDetail> detail(Connection& c, const std::string& name) {
  auto row = c.query_one(sql::kAdminUserSummary, {name});
  if (!row) return std::nullopt;
  UserDetail d;
  d.summary = summary_from(*row);
  auto id = c.query_one(sql::kAdminUserId, {name});
  if (!id) return std::nullopt;
  for (auto& r : c.query(sql::kAdminUserAddresses, {id->u64(0)})) d.addresses.push_back({r.take(0), r.u64(1)});
  return d;
}

// Removes every mailbox entry of `user` and the bodies that nothing else holds.
Purged remove_entries(Connection& c, std::uint64_t user) {
  Purged p;
  std::set<std::uint64_t> bodies;
  for (auto& r : c.query(sql::kAdminMailboxMessages, {user})) {
    bodies.insert(r.u64(0));
    ++p.messages;
    p.bytes += r.u64(1);
  }
  c.exec(sql::kAdminMailboxDeleteAll, {user});
  for (std::uint64_t m : bodies) p.bodies_removed += delete_body_if_unreferenced(c, m) ? 1 : 0;
  return p;
}

// Stored From and Subject fields are the raw field bodies as they came (unfolded,
// valid UTF-8, before any tag). Encoded-words are decoded as the spam filter decodes
// them (RFC 2047); text without one is shown as stored, so that a control character
// in it is still made visible by shicksctl rather than blanked.
std::string readable(std::string_view raw) {
  if (raw.find("=?") == std::string_view::npos) return std::string(raw);
  return spam::decode_subject(raw);
}

// The Subject a mail reader shows: decoded, and tagged as the stored message is.
std::string readable_subject(std::string_view raw, bool tagged) {
  std::string s = readable(raw);
  return tagged ? spam::tagged_subject(s) : s;
}

void bump(Connection& c, const char* counter) { c.exec(sql::kAdminBumpCounter, {counter}); }

std::vector<std::string> targets(Connection& c, std::uint64_t address_id) {
  std::vector<std::string> out;
  for (auto& r : c.query(sql::kAdminAddressTargets, {address_id})) out.push_back(r.take(0));
  return out;
}

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
  return out;
}

// Normalises a list of addresses; refuses malformed ones and repeats.
Outcome<std::vector<shicks::admin::Address>> normalize_all(const std::vector<std::string>& in) {
  std::vector<shicks::admin::Address> out;
  std::set<std::string> seen;
  for (const auto& text : in) {
    auto a = shicks::admin::normalize_address(text);
    if (!a) return refuse(a.error());
    if (!seen.insert(a->address).second) return refuse(fmt::format("address {} is given twice", a->address));
    out.push_back(std::move(*a));
  }
  return out;
}

// Inserts a new address for the given user ids. Refuses when it exists.
Outcome<void> insert_address(Connection& c, const shicks::admin::Address& a, const std::vector<std::uint64_t>& users) {
  if (auto row = c.query_one(sql::kAdminAddressId, {a.address})) {
    auto owners = targets(c, row->u64(0));
    return refuse(fmt::format("address {} exists already{}{}", a.address, owners.empty() ? "" : " (delivers to ",
                              owners.empty() ? "" : join(owners) + ")"));
  }
  try {
    c.exec(sql::kAdminAddressInsert, {a.address, a.domain});
  } catch (const DbError& e) {
    if (e.is_duplicate_key()) return refuse(fmt::format("address {} exists already", a.address));
    throw;
  }
  std::uint64_t id = c.last_insert_id();
  for (std::uint64_t u : users) c.exec(sql::kAdminTargetInsert, {id, u});
  bump(c, kAddressesCounter);  // an exact address may shadow a catch-all that was cached
  return {};
}

Setting setting_from(const config::RuntimeSetting& s, const std::optional<std::string>& stored) {
  Setting out;
  out.name = std::string(s.name);
  out.default_value = std::string(s.default_value);
  out.description = std::string(s.description);
  out.secret = s.secret;
  std::string value = stored ? *stored : out.default_value;
  out.is_set = !value.empty();
  if (!s.secret) out.value = std::move(value);
  return out;
}

std::optional<std::string> stored_setting(Connection& c, std::string_view name) {
  auto row = c.query_one(sql::kSettingGet, {name});
  if (!row) return std::nullopt;
  return row->take(0);
}

void write_setting(Connection& c, std::string_view name, std::string_view value) {
  c.exec(sql::kSettingSet, {name, value});
}

// The relay settings that decide whether the relay password may go without TLS
// (config::check_relay_auth), read and locked in one statement: two changes at once
// wait for each other instead of each passing the check against the other's old value.
struct RelayAuth {
  std::string host, tls, username, allow_plaintext_auth;
  std::string* field(std::string_view name) {
    if (name == setting::relay_host.name) return &host;
    if (name == setting::relay_tls.name) return &tls;
    if (name == setting::relay_username.name) return &username;
    if (name == setting::relay_allow_plaintext_auth.name) return &allow_plaintext_auth;
    return nullptr;
  }
  std::optional<std::string> problem() const {
    return config::check_relay_auth(host, tls, username, allow_plaintext_auth);
  }
};

RelayAuth lock_relay_auth(Connection& c) {
  RelayAuth a;
  for (std::string_view k : {setting::relay_host.name, setting::relay_tls.name, setting::relay_username.name,
                             setting::relay_allow_plaintext_auth.name})
    *a.field(k) = std::string(config::find_runtime_setting(k)->default_value);
  for (auto& row : c.query(sql::kSettingsLockRelayAuth)) {
    std::string name = row.take(0);
    if (auto* f = a.field(name)) *f = row.take(1);
  }
  return a;
}

}  // namespace

// ---------------------------------------------------------------- users

Outcome<UserDetail> add_user(Connection& c, const NewUser& u) {
  if (auto e = shicks::admin::check_user_name(u.name)) return refuse(*e);
  if (auto e = shicks::admin::check_password(u.password)) return refuse(*e);
  auto addresses = normalize_all(u.addresses);
  if (!addresses) return refuse(addresses.error());
  // The hash is made before the transaction: it takes a while and holds no lock.
  const std::string hash = auth::hash_password(u.password);
  return transact(c, [&]() -> Outcome<UserDetail> {
    try {
      c.exec(sql::kAdminUserInsert, {u.name, hash});
    } catch (const DbError& e) {
      if (e.is_duplicate_key()) return refuse(fmt::format("user \"{}\" exists already", u.name));
      throw;
    }
    std::vector<std::uint64_t> id = {c.last_insert_id()};
    for (const auto& a : *addresses)
      if (auto r = insert_address(c, a, id); !r) return refuse(r.error());
    auto d = detail(c, u.name);
    if (!d) throw DbError(0, false, "the new user vanished inside its own transaction");
    return std::move(*d);
  });
}

Outcome<DeletedUser> delete_user(Connection& c, const std::string& name) {
  return transact(c, [&]() -> Outcome<DeletedUser> {
    auto id = user_id(c, name);
    if (!id) return refuse(no_such_user(name));
    if (auto busy = maildrop_in_use(c, *id, name)) return refuse(*busy);
    DeletedUser out;
    out.name = name;
    auto sole = c.query(sql::kAdminUserSoleAddresses, {*id, *id});
    Purged p = remove_entries(c, *id);
    out.messages_removed = p.messages;
    out.bodies_removed = p.bodies_removed;
    for (auto& r : sole) {
      c.exec(sql::kAdminAddressDelete, {r.u64(0)});
      out.addresses_removed.push_back(r.take(1));
    }
    c.exec(sql::kAdminUserDelete, {*id});
    bump(c, kAddressesCounter);
    return out;
  });
}

std::vector<UserSummary> list_users(Connection& c) {
  std::vector<UserSummary> out;
  for (auto& r : c.query(sql::kAdminUserSummaries)) out.push_back(summary_from(r));
  return out;
}

Outcome<UserDetail> show_user(Connection& c, const std::string& name) {
  auto d = detail(c, name);
  if (!d) return refuse(no_such_user(name));
  return std::move(*d);
}

Outcome<void> set_password(Connection& c, const std::string& name, const std::string& password) {
  if (auto e = shicks::admin::check_password(password)) return refuse(*e);
  const std::string hash = auth::hash_password(password);
  return transact(c, [&]() -> Outcome<void> {
    auto id = user_id(c, name);
    if (!id) return refuse(no_such_user(name));
    c.exec(sql::kAdminUserSetPassword, {hash, *id});
    return {};
  });
}

Outcome<bool> set_enabled(Connection& c, const std::string& name, bool enabled) {
  return transact(c, [&]() -> Outcome<bool> {
    auto row = c.query_one(sql::kAdminUserId, {name});
    if (!row) return refuse(no_such_user(name));
    if ((row->i64(1) != 0) == enabled) return false;
    c.exec(sql::kAdminUserSetEnabled, {enabled, row->u64(0)});
    bump(c, kAddressesCounter);
    return true;
  });
}

// ---------------------------------------------------------------- addresses

Outcome<AddressInfo> add_address(Connection& c, const std::string& address, const std::vector<std::string>& users) {
  auto a = shicks::admin::normalize_address(address);
  if (!a) return refuse(a.error());
  if (users.empty()) return refuse(fmt::format("address {} needs at least one user", a->address));
  std::vector<std::string> names = users;
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  return transact(c, [&]() -> Outcome<AddressInfo> {
    std::vector<std::uint64_t> ids;
    for (const auto& n : names) {
      auto id = user_id(c, n);
      if (!id) return refuse(no_such_user(n));
      ids.push_back(*id);
    }
    if (auto r = insert_address(c, *a, ids); !r) return refuse(r.error());
    return AddressInfo{a->address, a->catch_all, names};
  });
}

Outcome<AddressInfo> delete_address(Connection& c, const std::string& address) {
  auto a = shicks::admin::normalize_address(address);
  if (!a) return refuse(a.error());
  return transact(c, [&]() -> Outcome<AddressInfo> {
    auto row = c.query_one(sql::kAdminAddressId, {a->address});
    if (!row) return refuse(fmt::format("no such address {}", a->address));
    AddressInfo info{a->address, a->catch_all, targets(c, row->u64(0))};
    c.exec(sql::kAdminAddressDelete, {row->u64(0)});
    bump(c, kAddressesCounter);
    return info;
  });
}

Outcome<std::vector<AddressInfo>> list_addresses(Connection& c, const std::optional<std::string>& user) {
  std::vector<Row> rows;
  if (user) {
    if (!c.query_one(sql::kAdminUserId, {*user})) return refuse(no_such_user(*user));
    rows = c.query(sql::kAdminAddressesOfUser, {*user});
  } else {
    rows = c.query(sql::kAdminAddressesAll);
  }
  std::vector<AddressInfo> out;
  for (auto& r : rows) {
    if (out.empty() || out.back().address != r.str(0)) {
      AddressInfo info;
      info.address = r.str(0);
      info.catch_all = !info.address.empty() && info.address.front() == '@';
      out.push_back(std::move(info));
    }
    if (!r.is_null(1)) out.back().users.push_back(r.take(1));
  }
  return out;
}

// ---------------------------------------------------------------- mailboxes

Outcome<std::vector<MailboxMessage>> list_mailbox(Connection& c, const std::string& user) {
  auto id = c.query_one(sql::kAdminUserId, {user});
  if (!id) return refuse(no_such_user(user));
  std::vector<MailboxMessage> out;
  for (auto& r : c.query(sql::kAdminMailboxList, {id->u64(0)})) {
    MailboxMessage m;
    m.id = r.u64(0);
    m.size = r.u64(1);
    m.received_at = r.str(2);
    m.header_from = readable(r.str(3));
    m.envelope_from = r.take(4);
    m.spam = r.i64(6) != 0;
    m.spam_keyword = r.str(7);
    m.subject = readable_subject(r.str(5), m.spam);
    out.push_back(std::move(m));
  }
  return out;
}

Outcome<Purged> purge_mailbox(Connection& c, const std::string& user) {
  return transact(c, [&]() -> Outcome<Purged> {
    auto id = user_id(c, user);
    if (!id) return refuse(no_such_user(user));
    if (auto busy = maildrop_in_use(c, *id, user)) return refuse(*busy);
    return remove_entries(c, *id);
  });
}

// ---------------------------------------------------------------- settings

std::vector<Setting> list_settings(Connection& c, std::string_view prefix) {
  std::map<std::string, std::string, std::less<>> stored;
  for (auto& [k, v] : all_settings(c)) stored.emplace(std::move(k), std::move(v));
  std::vector<Setting> out;
  for (const auto& s : config::runtime_settings()) {
    if (s.name.substr(0, prefix.size()) != prefix) continue;
    auto it = stored.find(s.name);
    out.push_back(setting_from(s, it == stored.end() ? std::nullopt : std::optional<std::string>(it->second)));
  }
  return out;
}

Outcome<Setting> get_setting(Connection& c, const std::string& name) {
  const auto* s = config::find_runtime_setting(name);
  if (!s) return refuse(fmt::format("unknown setting {} (shicksctl config list shows every setting)", name));
  return setting_from(*s, stored_setting(c, name));
}

Outcome<Setting> set_setting(Connection& c, const std::string& name, const std::string& value) {
  const auto* s = config::find_runtime_setting(name);
  if (!s) return refuse(fmt::format("unknown setting {} (shicksctl config list shows every setting)", name));
  if (s->secret)
    return refuse(fmt::format("{} is secret and is not set on a command line: use shicksctl relay set "
                              "--password-stdin",
                              name));
  if (auto e = config::validate_runtime_setting(name, value)) return refuse(*e);
  return transact(c, [&]() -> Outcome<Setting> {
    RelayAuth probe;
    if (probe.field(name)) {
      RelayAuth relay = lock_relay_auth(c);
      *relay.field(name) = value;
      if (auto e = relay.problem()) return refuse(*e);
    }
    write_setting(c, name, value);
    bump(c, kSettingsCounter);
    return setting_from(*s, value);
  });
}

Outcome<std::vector<Setting>> set_relay(Connection& c, const RelayUpdate& u) {
  if (u.host.empty()) return refuse("a relay needs a host (relay clear turns relaying off)");
  std::vector<std::pair<std::string_view, std::string>> writes = {{setting::relay_host.name, u.host}};
  if (u.port) writes.emplace_back(setting::relay_port.name, *u.port);
  if (u.tls) writes.emplace_back(setting::relay_tls.name, *u.tls);
  if (u.username) writes.emplace_back(setting::relay_username.name, *u.username);
  // Not kept from an earlier relay set: each one that needs it says so again.
  writes.emplace_back(setting::relay_allow_plaintext_auth.name, u.allow_plaintext_auth.value_or("false"));
  for (const auto& [k, v] : writes)
    if (auto e = config::validate_runtime_setting(k, v)) return refuse(*e);
  if (u.password) {
    if (auto e = shicks::admin::check_password(*u.password)) return refuse(fmt::format("relay password: {}", *e));
  }
  return transact(c, [&]() -> Outcome<std::vector<Setting>> {
    RelayAuth relay = lock_relay_auth(c);
    for (const auto& [k, v] : writes)
      if (auto* f = relay.field(k)) *f = v;
    if (u.password && relay.username.empty())
      return refuse("a relay password needs a relay username (--username)");
    if (auto e = relay.problem()) return refuse(*e);
    for (const auto& [k, v] : writes) write_setting(c, k, v);
    if (u.password) write_setting(c, setting::relay_password.name, *u.password);
    else if (u.username && u.username->empty()) write_setting(c, setting::relay_password.name, "");
    bump(c, kSettingsCounter);
    return list_settings(c, "relay.");
  });
}

std::vector<Setting> clear_relay(Connection& c) {
  return in_transaction(c, [&] {
    for (std::string_view k : kRelayKeys) write_setting(c, k, config::find_runtime_setting(k)->default_value);
    bump(c, kSettingsCounter);
    return list_settings(c, "relay.");
  });
}

// ---------------------------------------------------------------- spam keywords

namespace {
Outcome<std::vector<std::string>> normalize_keywords(const std::vector<std::string>& in) {
  if (in.empty()) return refuse("no spam keyword given");
  std::vector<std::string> out;
  for (const auto& k : in) {
    auto n = shicks::admin::normalize_keyword(k);
    if (!n) return refuse(n.error());
    out.push_back(std::move(*n));
  }
  return out;
}
}  // namespace

Outcome<std::vector<std::string>> add_keywords(Connection& c, const std::vector<std::string>& keywords) {
  auto list = normalize_keywords(keywords);
  if (!list) return refuse(list.error());
  return transact(c, [&]() -> Outcome<std::vector<std::string>> {
    for (const auto& k : *list) {
      if (auto row = c.query_one(sql::kAdminKeywordFind, {k})) {
        if (row->str(0) == k) return refuse(fmt::format("spam keyword \"{}\" exists already", k));
        return refuse(fmt::format("spam keyword \"{}\" exists already as \"{}\" (keywords match regardless of case)",
                                  k, row->str(0)));
      }
      try {
        c.exec(sql::kAdminKeywordInsert, {k});
      } catch (const DbError& e) {
        if (e.is_duplicate_key()) return refuse(fmt::format("spam keyword \"{}\" is given twice", k));
        throw;
      }
    }
    bump(c, kKeywordsCounter);
    return *list;
  });
}

Outcome<std::vector<std::string>> delete_keywords(Connection& c, const std::vector<std::string>& keywords) {
  auto list = normalize_keywords(keywords);
  if (!list) return refuse(list.error());
  return transact(c, [&]() -> Outcome<std::vector<std::string>> {
    std::vector<std::string> removed;
    for (const auto& k : *list) {
      auto row = c.query_one(sql::kAdminKeywordFind, {k});
      if (!row) return refuse(fmt::format("no such spam keyword \"{}\"", k));
      removed.push_back(row->take(0));
      c.exec(sql::kAdminKeywordDelete, {k});
    }
    bump(c, kKeywordsCounter);
    return removed;
  });
}

std::vector<Keyword> list_keywords(Connection& c) {
  std::vector<Keyword> out;
  for (auto& r : c.query(sql::kAdminKeywordList)) out.push_back({r.take(0), r.u64(1), r.str(2), r.str(3)});
  return out;
}

Outcome<Imported> import_keywords(Connection& c, const std::vector<std::string>& keywords) {
  auto list = normalize_keywords(keywords);
  if (!list) return refuse(list.error());
  return transact(c, [&]() -> Outcome<Imported> {
    Imported out;
    for (const auto& k : *list) {
      if (c.exec(sql::kAdminKeywordInsertIgnore, {k}) > 0) ++out.added;
      else ++out.present;
    }
    if (out.added) bump(c, kKeywordsCounter);
    return out;
  });
}

// ---------------------------------------------------------------- relay queue

namespace {
QueueEntry queue_entry_from(Row& r) {
  QueueEntry q;
  q.id = r.u64(0);
  q.message_id = r.u64(1);
  q.sender = r.take(2);
  q.recipient = r.take(3);
  q.attempts = r.u64(4);
  q.next_attempt_at = r.str(5);
  q.last_attempt_at = r.str(6);
  q.last_error = r.take(7);
  q.claimed_by = r.take(8);
  q.claimed_until = r.str(9);
  q.created_at = r.str(10);
  q.size = r.u64(11);
  q.subject = readable(r.str(12));
  q.header_from = readable(r.str(13));
  return q;
}
}  // namespace

std::vector<QueueEntry> list_queue(Connection& c) {
  std::vector<QueueEntry> out;
  for (auto& r : c.query(sql::kAdminQueueList)) out.push_back(queue_entry_from(r));
  return out;
}

Outcome<QueueEntry> show_queue(Connection& c, std::uint64_t id) {
  auto row = c.query_one(sql::kAdminQueueOne, {id});
  if (!row) return refuse(fmt::format("no queue entry {}", id));
  return queue_entry_from(*row);
}

std::uint64_t queue_length(Connection& c) {
  auto row = c.query_one(sql::kAdminQueueCount);
  return row ? row->u64(0) : 0;
}

Outcome<QueueDeleted> delete_queue(Connection& c, std::uint64_t id) {
  return transact(c, [&]() -> Outcome<QueueDeleted> {
    auto lock = c.query_one(sql::kAdminQueueMessage, {id});
    if (!lock) return refuse(fmt::format("no queue entry {}", id));
    auto row = c.query_one(sql::kAdminQueueOne, {id});
    if (!row) return refuse(fmt::format("no queue entry {}", id));
    QueueDeleted out;
    out.entry = queue_entry_from(*row);
    c.exec(sql::kAdminQueueDelete, {id});
    std::uint64_t m = out.entry.message_id;
    out.body_removed = delete_body_if_unreferenced(c, m);
    return out;
  });
}

}  // namespace shicks::admin
