#include "server/daemon/control_commands.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <set>
#include <stdexcept>

#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>
#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include "common/log.hpp"
#include "common/netaddr.hpp"
#include "server/auth/throttle.hpp"
#include "server/config/runtime_settings.hpp"
#include "server/services/address_cache.hpp"
#include "server/services/settings_cache.hpp"
#include "server/services/spam_cache.hpp"
#include "server/spam/subject.hpp"
#include "server/relay/queue_runner.hpp"
#include "server/store/admin_store.hpp"
#include "server/store/relay_store.hpp"
#include "server/store/schema.hpp"
#include "shicks/version.hpp"

namespace shicks::daemon {
using nlohmann::json;
using asio::local::stream_protocol;
namespace admin = store::admin;

namespace {

// ---------------------------------------------------------------- arguments

// A request whose arguments do not fit the command: the message goes to the peer.
struct BadArgs : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class Args {
 public:
  explicit Args(const json& j) : j_(j) {}

  std::string text(const char* key) const {
    auto v = opt_text(key);
    if (!v) throw BadArgs(fmt::format("missing argument \"{}\"", key));
    return *v;
  }
  std::optional<std::string> opt_text(const char* key) const {
    auto it = j_.find(key);
    if (it == j_.end() || it->is_null()) return std::nullopt;
    if (!it->is_string()) throw BadArgs(fmt::format("argument \"{}\" must be a string", key));
    return it->get<std::string>();
  }
  std::vector<std::string> list(const char* key, bool required) const {
    std::vector<std::string> out;
    auto it = j_.find(key);
    if (it == j_.end() || it->is_null()) {
      if (required) throw BadArgs(fmt::format("missing argument \"{}\"", key));
      return out;
    }
    if (!it->is_array()) throw BadArgs(fmt::format("argument \"{}\" must be a list of strings", key));
    for (const auto& e : *it) {
      if (!e.is_string()) throw BadArgs(fmt::format("argument \"{}\" must be a list of strings", key));
      out.push_back(e.get<std::string>());
    }
    if (required && out.empty()) throw BadArgs(fmt::format("argument \"{}\" must not be empty", key));
    return out;
  }
  std::uint64_t id(const char* key) const {
    auto it = j_.find(key);
    if (it == j_.end()) throw BadArgs(fmt::format("missing argument \"{}\"", key));
    if (!it->is_number_unsigned()) throw BadArgs(fmt::format("argument \"{}\" must be a whole number", key));
    return it->get<std::uint64_t>();
  }

 private:
  const json& j_;
};

// ---------------------------------------------------------------- answers

json time_or_null(const std::string& t) { return t.empty() ? json(nullptr) : json(t); }

json user_json(const admin::UserSummary& s) {
  return {{"name", s.name},
          {"enabled", s.enabled},
          {"created_at", time_or_null(s.created_at)},
          {"last_login_at", time_or_null(s.last_login_at)},
          {"address_count", s.addresses},
          {"messages", s.messages},
          {"mailbox_bytes", s.mailbox_bytes}};
}

json user_detail_json(const admin::UserDetail& d) {
  json j = user_json(d.summary);
  json list = json::array();
  for (const auto& a : d.addresses) {
    json entry = {{"address", a.address}, {"users", a.users}};
    list.push_back(std::move(entry));
  }
  j["addresses"] = std::move(list);
  return j;
}

json address_json(const admin::AddressInfo& a) {
  return {{"address", a.address}, {"catch_all", a.catch_all}, {"users", a.users}};
}

json setting_json(const admin::Setting& s) {
  return {{"name", s.name},
          {"value", s.secret ? json(nullptr) : json(s.value)},
          {"default", s.secret ? json(nullptr) : json(s.default_value)},
          {"description", s.description},
          {"secret", s.secret},
          {"set", s.is_set}};
}

// relay.* settings as one object: {"host":"...","port":"25",...,"password_set":true}.
json relay_json(const std::vector<admin::Setting>& settings) {
  json j = json::object();
  for (const auto& s : settings) {
    std::string key = s.name.substr(std::string_view("relay.").size());
    if (s.secret) j[key + "_set"] = s.is_set;
    else j[key] = s.value;
  }
  j["enabled"] = j.contains("host") && !j["host"].get<std::string>().empty();
  return j;
}

json queue_json(const admin::QueueEntry& q) {
  return {{"id", q.id},
          {"message_id", q.message_id},
          {"sender", q.sender},
          {"recipient", q.recipient},
          {"attempts", q.attempts},
          {"next_attempt_at", time_or_null(q.next_attempt_at)},
          {"last_attempt_at", time_or_null(q.last_attempt_at)},
          {"last_error", q.last_error.empty() ? json(nullptr) : json(q.last_error)},
          {"claimed_by", q.claimed_by.empty() ? json(nullptr) : json(q.claimed_by)},
          {"claimed_until", time_or_null(q.claimed_until)},
          {"created_at", time_or_null(q.created_at)},
          {"size", q.size},
          {"subject", q.subject},
          {"from", q.header_from}};
}

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

// ---------------------------------------------------------------- the command table

using Result = Expected<json, std::string>;  // the answer, or the refusal
using Job = std::function<Result(store::Connection&)>;
using Log = std::vector<std::pair<std::string, std::string>>;  // what was asked (never a password)

struct Action {
  Job job;
  Log what;
};

template <class T, class F>
Result answer(admin::Outcome<T> r, F&& to_json) {
  if (!r) return unexpected(r.error());
  return to_json(*r);
}

std::string joined(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ",") + s;
  return out;
}

// Each command: its arguments are checked here, on the network thread; the job runs
// on a DB worker. Passwords are hashed there too (inside the store functions).
Action user_add(const Args& a, CommandContext&) {
  admin::NewUser u{a.text("name"), a.text("password"), a.list("addresses", false)};
  Log what = {{"name", u.name}, {"addresses", joined(u.addresses)}};
  return {[u = std::move(u)](store::Connection& c) { return answer(admin::add_user(c, u), user_detail_json); },
          std::move(what)};
}

Action user_del(const Args& a, CommandContext&) {
  std::string name = a.text("name");
  return {[name](store::Connection& c) {
            return answer(admin::delete_user(c, name), [](const admin::DeletedUser& d) {
              return json{{"name", d.name},
                          {"addresses_removed", d.addresses_removed},
                          {"messages_removed", d.messages_removed},
                          {"bodies_removed", d.bodies_removed}};
            });
          },
          {{"name", name}}};
}

Action user_list(const Args&, CommandContext&) {
  return {[](store::Connection& c) -> Result {
            json users = json::array();
            for (const auto& u : admin::list_users(c)) users.push_back(user_json(u));
            return json{{"users", std::move(users)}};
          },
          {}};
}

Action user_show(const Args& a, CommandContext&) {
  std::string name = a.text("name");
  return {[name](store::Connection& c) { return answer(admin::show_user(c, name), user_detail_json); },
          {{"name", name}}};
}

Action user_passwd(const Args& a, CommandContext&) {
  std::string name = a.text("name"), password = a.text("password");
  return {[name, password](store::Connection& c) -> Result {
            auto r = admin::set_password(c, name, password);
            if (!r) return unexpected(r.error());
            return json{{"name", name}, {"password_changed", true}};
          },
          {{"name", name}}};
}

Action user_enable(const Args& a, bool enabled) {
  std::string name = a.text("name");
  return {[name, enabled](store::Connection& c) {
            return answer(admin::set_enabled(c, name, enabled), [&](bool changed) {
              return json{{"name", name}, {"enabled", enabled}, {"changed", changed}};
            });
          },
          {{"name", name}}};
}
Action user_enable(const Args& a, CommandContext&) { return user_enable(a, true); }
Action user_disable(const Args& a, CommandContext&) { return user_enable(a, false); }

Action address_add(const Args& a, CommandContext&) {
  std::string address = a.text("address");
  std::vector<std::string> users = a.list("users", true);
  Log what = {{"address", address}, {"users", joined(users)}};
  return {[address, users](store::Connection& c) { return answer(admin::add_address(c, address, users), address_json); },
          std::move(what)};
}

Action address_del(const Args& a, CommandContext&) {
  std::string address = a.text("address");
  return {[address](store::Connection& c) { return answer(admin::delete_address(c, address), address_json); },
          {{"address", address}}};
}

Action address_list(const Args& a, CommandContext&) {
  std::optional<std::string> user = a.opt_text("user");
  return {[user](store::Connection& c) {
            return answer(admin::list_addresses(c, user), [](const std::vector<admin::AddressInfo>& list) {
              json out = json::array();
              for (const auto& i : list) out.push_back(address_json(i));
              return json{{"addresses", std::move(out)}};
            });
          },
          {}};
}

Action mailbox_list(const Args& a, CommandContext&) {
  std::string user = a.text("user");
  return {[user](store::Connection& c) {
            return answer(admin::list_mailbox(c, user), [&](const std::vector<admin::MailboxMessage>& list) {
              json out = json::array();
              std::uint64_t total = 0;
              for (const auto& m : list) {
                total += m.size;
                json entry = {{"id", m.id},
                              {"size", m.size},
                              {"received_at", time_or_null(m.received_at)},
                              {"from", m.header_from},
                              {"envelope_from", m.envelope_from},
                              {"subject", m.subject},
                              {"spam", m.spam},
                              {"spam_keyword", m.spam ? json(m.spam_keyword) : json()}};
                out.push_back(std::move(entry));
              }
              return json{{"user", user}, {"messages", std::move(out)}, {"total_bytes", total}};
            });
          },
          {}};
}

Action mailbox_purge(const Args& a, CommandContext&) {
  std::string user = a.text("user");
  return {[user](store::Connection& c) {
            return answer(admin::purge_mailbox(c, user), [&](const admin::Purged& p) {
              return json{{"user", user},
                          {"messages_removed", p.messages},
                          {"bytes_removed", p.bytes},
                          {"bodies_removed", p.bodies_removed}};
            });
          },
          {{"mailbox", user}}};
}

Action relay_show(const Args&, CommandContext&) {
  return {[](store::Connection& c) -> Result { return relay_json(admin::list_settings(c, "relay.")); }, {}};
}

// After a write to `settings` has committed, this daemon's cache reads the table
// again on the same connection, so the sessions see the change before the answer
// goes out; the read is labelled with the change counter, so a periodic read that
// began before the write cannot bring the old value back (settings_snapshot.hpp).
// A failure here is not the write's: the periodic read catches up.
// Jobs hold the SettingsCache (it outlives the DB pool), not the CommandContext.
void tell_cache(services::SettingsCache* cache, store::Connection& c) {
  if (!cache) return;
  try {
    cache->load(c);
  } catch (const store::DbError& e) {
    log::warn("settings.reload_failed").kv("error", e.what());
  }
}

Action relay_set(const Args& a, CommandContext& ctx) {
  admin::RelayUpdate u;
  u.host = a.text("host");
  u.port = a.opt_text("port");
  u.tls = a.opt_text("tls");
  u.username = a.opt_text("username");
  u.password = a.opt_text("password");
  u.allow_plaintext_auth = a.opt_text("allow_plaintext_auth");
  Log what = {{"host", u.host}};
  if (u.port) what.emplace_back("port", *u.port);
  if (u.tls) what.emplace_back("tls", *u.tls);
  if (u.username) what.emplace_back("username", *u.username);
  if (u.password) what.emplace_back("password", "(new)");
  if (u.allow_plaintext_auth) what.emplace_back("allow_plaintext_auth", *u.allow_plaintext_auth);
  services::SettingsCache* cache = ctx.settings;
  return {[u = std::move(u), cache](store::Connection& c) -> Result {
            auto r = admin::set_relay(c, u);
            if (!r) return unexpected(r.error());
            tell_cache(cache, c);
            return relay_json(*r);
          },
          std::move(what)};
}

Action relay_clear(const Args&, CommandContext& ctx) {
  services::SettingsCache* cache = ctx.settings;
  return {[cache](store::Connection& c) -> Result {
            auto settings = admin::clear_relay(c);
            tell_cache(cache, c);
            return relay_json(settings);
          },
          {}};
}

// After a keyword change: the new list is used from the next message on, not only
// after the cache's next poll. The change is committed; a failure here only delays it.
template <class T>
admin::Outcome<T> refreshed(services::SpamCache* cache, store::Connection& c, admin::Outcome<T> r) {
  if (r && cache) {
    try {
      cache->refresh(c);
    } catch (const store::DbError& e) {
      log::warn("spam.refresh_failed").kv("error", e.what()).kv("effect", "the next poll reads the list");
    }
  }
  return r;
}

Action spam_add(const Args& a, CommandContext& ctx) {
  auto keywords = a.list("keywords", true);
  Log what = {{"keywords", joined(keywords)}};
  services::SpamCache* cache = ctx.spam;
  return {[keywords, cache](store::Connection& c) {
            return answer(refreshed(cache, c, admin::add_keywords(c, keywords)),
                          [](const std::vector<std::string>& k) { return json{{"added", k}}; });
          },
          std::move(what)};
}

Action spam_del(const Args& a, CommandContext& ctx) {
  auto keywords = a.list("keywords", true);
  Log what = {{"keywords", joined(keywords)}};
  services::SpamCache* cache = ctx.spam;
  return {[keywords, cache](store::Connection& c) {
            return answer(refreshed(cache, c, admin::delete_keywords(c, keywords)),
                          [](const std::vector<std::string>& k) { return json{{"deleted", k}}; });
          },
          std::move(what)};
}

Action spam_list(const Args&, CommandContext&) {
  return {[](store::Connection& c) -> Result {
            json out = json::array();
            for (const auto& k : admin::list_keywords(c)) {
              json entry = {{"keyword", k.keyword},
                            {"hits", k.hits},
                            {"last_hit_at", time_or_null(k.last_hit_at)},
                            {"created_at", time_or_null(k.created_at)}};
              out.push_back(std::move(entry));
            }
            return json{{"keywords", std::move(out)}};
          },
          {}};
}

Action spam_import(const Args& a, CommandContext& ctx) {
  auto keywords = a.list("keywords", true);
  Log what = {{"keywords", std::to_string(keywords.size())}};
  services::SpamCache* cache = ctx.spam;
  return {[keywords, cache](store::Connection& c) {
            return answer(refreshed(cache, c, admin::import_keywords(c, keywords)), [](const admin::Imported& i) {
              return json{{"added", i.added}, {"present", i.present}};
            });
          },
          std::move(what)};
}

// The verdict the filter gives a Subject, raw (encoded-words, folds) or as read,
// with the keywords this daemon uses now.
Action spam_test(const Args& a, CommandContext& ctx) {
  std::string subject = a.text("subject");
  services::SpamCache* cache = ctx.spam;
  services::SettingsCache* settings = ctx.settings;
  if (!cache) throw BadArgs("the spam filter is not running");
  return {[subject, cache, settings](store::Connection&) -> Result {
            std::string decoded = spam::decode_subject(subject);
            auto matcher = cache->matcher();
            auto hit = matcher->match(decoded);
            return json{{"subject", subject},
                        {"decoded", decoded},
                        {"spam", hit.has_value()},
                        {"keyword", hit ? json(hit->keyword) : json(nullptr)},
                        {"action", settings ? settings->get("spam.action") : "tag"},
                        {"keywords", matcher->size()}};
          },
          {}};
}

Action queue_list(const Args&, CommandContext&) {
  return {[](store::Connection& c) -> Result {
            json out = json::array();
            for (const auto& q : admin::list_queue(c)) out.push_back(queue_json(q));
            return json{{"entries", std::move(out)}};
          },
          {}};
}

Action queue_show(const Args& a, CommandContext&) {
  std::uint64_t id = a.id("id");
  return {[id](store::Connection& c) { return answer(admin::show_queue(c, id), queue_json); }, {}};
}

// Everything is due now; rows a runner is sending keep their lease (no double send)
// and are tried again at once should that attempt end deferred (the flush mark).
Action queue_flush(const Args&, CommandContext& ctx) {
  auto wake = ctx.wake_relay;
  return {[wake](store::Connection& c) -> Result {
            json r = {{"flushed", store::relay::flush(c)}};
            if (wake) wake();
            return r;
          },
          {}};
}

Action queue_del(const Args& a, CommandContext&) {
  std::uint64_t id = a.id("id");
  return {[id](store::Connection& c) {
            return answer(admin::delete_queue(c, id), [](const admin::QueueDeleted& d) {
              return json{{"deleted", queue_json(d.entry)}, {"body_removed", d.body_removed}};
            });
          },
          {{"id", std::to_string(id)}}};
}

Action config_list(const Args&, CommandContext&) {
  return {[](store::Connection& c) -> Result {
            json out = json::array();
            for (const auto& s : admin::list_settings(c)) out.push_back(setting_json(s));
            return json{{"settings", std::move(out)}};
          },
          {}};
}

Action config_get(const Args& a, CommandContext&) {
  std::string key = a.text("key");
  return {[key](store::Connection& c) { return answer(admin::get_setting(c, key), setting_json); }, {}};
}

Action config_set(const Args& a, CommandContext& ctx) {
  std::string key = a.text("key"), value = a.text("value");
  services::SettingsCache* cache = ctx.settings;
  // A secret key is refused by the store; its value is still kept out of the log.
  const auto* known = config::find_runtime_setting(key);
  Log what = {{"key", key}, {"value", known && known->secret ? "(secret)" : value}};
  return {[key, value, cache](store::Connection& c) -> Result {
            auto r = admin::set_setting(c, key, value);
            if (!r) return unexpected(r.error());
            tell_cache(cache, c);
            return setting_json(*r);
          },
          std::move(what)};
}

struct Command {
  const char* name;
  bool mutating;
  std::initializer_list<const char*> args;  // accepted argument names
  Action (*prepare)(const Args&, CommandContext&);
};

// Every command but ping, status, reload, watch and kLocalCommands (handled without
// a store job).
const Command kCommands[] = {
    {"user.add", true, {"name", "password", "addresses"}, user_add},
    {"user.del", true, {"name"}, user_del},
    {"user.list", false, {}, user_list},
    {"user.show", false, {"name"}, user_show},
    {"user.passwd", true, {"name", "password"}, user_passwd},
    {"user.enable", true, {"name"}, user_enable},
    {"user.disable", true, {"name"}, user_disable},
    {"address.add", true, {"address", "users"}, address_add},
    {"address.del", true, {"address"}, address_del},
    {"address.list", false, {"user"}, address_list},
    {"mailbox.list", false, {"user"}, mailbox_list},
    {"mailbox.purge", true, {"user"}, mailbox_purge},
    {"relay.show", false, {}, relay_show},
    {"relay.set", true, {"host", "port", "tls", "username", "password", "allow_plaintext_auth"}, relay_set},
    {"relay.clear", true, {}, relay_clear},
    {"spam.add", true, {"keywords"}, spam_add},
    {"spam.del", true, {"keywords"}, spam_del},
    {"spam.list", false, {}, spam_list},
    {"spam.import", true, {"keywords"}, spam_import},
    {"spam.test", false, {"subject"}, spam_test},
    {"queue.list", false, {}, queue_list},
    {"queue.show", false, {"id"}, queue_show},
    {"queue.flush", true, {}, queue_flush},
    {"queue.del", true, {"id"}, queue_del},
    {"config.list", false, {}, config_list},
    {"config.get", false, {"key"}, config_get},
    {"config.set", true, {"key", "value"}, config_set},
};

const Command* find_command(const std::string& name) {
  for (const auto& c : kCommands)
    if (name == c.name) return &c;
  return nullptr;
}

template <class C>
void check_arg_names(const C& cmd, const json& args) {
  for (const auto& [key, value] : args.items()) {
    bool known = false;
    for (const char* a : cmd.args) known = known || key == a;
    if (!known) throw BadArgs(fmt::format("{} takes no argument \"{}\"", cmd.name, key));
  }
}

std::string db_failure_text(const store::DbFailure& f) {
  if (f.outcome_unknown)
    return fmt::format("the database connection broke during the change; it may or may not have been made ({})",
                       f.message);
  switch (f.kind) {
    case store::DbFailure::busy: return "the database is busy; try again";
    case store::DbFailure::stopped: return "shicksd is shutting down";
    case store::DbFailure::unavailable: return fmt::format("the database is unavailable: {}", f.message);
    case store::DbFailure::no_space: return fmt::format("the database's disk is full: {}", f.message);
    case store::DbFailure::failed: break;
  }
  return fmt::format("database error: {}", f.message);
}

// A job for async_run: a named type, so nothing is built inside a co_await.
struct RunAction {
  Job job;
  Result operator()(store::Connection& c) const { return job(c); }
};

// ---------------------------------------------------------------- open sessions

// Answered on the network thread, without the database: ending a session must work
// while the database is away.
std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

//   {"id":"p7","protocol":"pop3","peer":"192.0.2.1:50123","user":"alice"|null,
//    "state":"transaction","tls":false,"started_ms":...,"age_seconds":12,
//    "bytes_in":40,"bytes_out":1234}
json sessions_json(const CommandContext& ctx) {
  json out = json::array();
  if (!ctx.sessions) return out;
  std::int64_t now = now_ms();
  for (const auto& s : ctx.sessions->list()) {
    json entry = {{"id", s.id},
                  {"protocol", s.protocol},
                  {"peer", s.peer},
                  {"user", s.user.empty() ? json(nullptr) : json(s.user)},
                  {"state", s.state},
                  {"tls", s.tls},
                  {"started_ms", s.started_unix_ms},
                  {"age_seconds", std::max<std::int64_t>(0, (now - s.started_unix_ms) / 1000)},
                  {"bytes_in", s.bytes_in},
                  {"bytes_out", s.bytes_out}};
    out.push_back(std::move(entry));
  }
  return out;
}

struct LocalCommand {
  const char* name;
  bool mutating;
  std::initializer_list<const char*> args;
  Result (*run)(const Args&, CommandContext&, Log&);
};

Result session_list(const Args&, CommandContext& ctx, Log&) { return json{{"sessions", sessions_json(ctx)}}; }

Result session_kill(const Args& a, CommandContext& ctx, Log& what) {
  std::string id = a.text("id");
  what.emplace_back("id", id);
  if (!ctx.sessions || !ctx.sessions->kill(id))
    return unexpected(fmt::format("no open session \"{}\" (see session list)", id));
  return json{{"killed", id}};
}

// The failed-login bans of this daemon (auth/throttle.hpp): kept in its memory, so
// answered without the database.
//   {"bans":[{"ip":"192.0.2.7","failures":5,"retry_after_seconds":287}]}
Result auth_bans(const Args&, CommandContext& ctx, Log&) {
  json out = json::array();
  if (ctx.throttle) {
    for (const auto& b : ctx.throttle->bans(auth::Throttle::Clock::now())) {
      json entry = {{"ip", b.ip}, {"failures", b.failures}, {"retry_after_seconds", b.retry_after.count()}};
      out.push_back(std::move(entry));
    }
  }
  return json{{"bans", std::move(out)}};
}

Result auth_unban(const Args& a, CommandContext& ctx, Log& what) {
  std::string text = a.text("ip");
  what.emplace_back("ip", text);
  auto ip = IpAddress::parse(text);
  if (!ip) return unexpected(fmt::format("\"{}\" is not an IP address", text));
  // The form the throttle counts under: IPv4-mapped IPv6 as IPv4, IPv6 compressed.
  const std::string key = ip->unmapped().to_string();
  if (!ctx.throttle || !ctx.throttle->unban(key, auth::Throttle::Clock::now()))
    return unexpected(fmt::format("{} is not banned (shicksctl auth bans lists the banned addresses)", key));
  return json{{"unbanned", key}};
}

const LocalCommand kLocalCommands[] = {
    {"session.list", false, {}, session_list},
    {"session.kill", true, {"id"}, session_kill},
    {"auth.bans", false, {}, auth_bans},
    {"auth.unban", true, {"ip"}, auth_unban},
};

// One request of kLocalCommands, logged like the store commands.
control::Response run_local(const LocalCommand& cmd, const control::Request& req, const PeerCred& peer,
                            const std::string& sid, CommandContext& ctx) {
  control::Response resp;
  resp.id = req.id;
  json args = json::parse(req.args_json, nullptr, false);
  if (!args.is_object()) args = json::object();
  Log what;
  const char* outcome = "ok";
  try {
    check_arg_names(cmd, args);
    auto r = cmd.run(Args(args), ctx, what);
    if (r) {
      resp.ok = true;
      resp.result_json = dump(*r);
    } else {
      resp.error = r.error();
      outcome = "refused";
    }
  } catch (const BadArgs& e) {
    resp.error = e.what();
    outcome = "bad-arguments";
  }
  log::Event ev(cmd.mutating || !resp.ok ? log::Level::info : log::Level::debug, sid, "control.request");
  ev.kv("cmd", cmd.name).kv("user", peer.user).kv("pid", peer.pid);
  for (const auto& [k, v] : what) ev.kv(k, v);
  ev.kv("result", outcome);
  if (!resp.ok) ev.kv("reason", resp.error);
  return resp;
}

// ---------------------------------------------------------------- status and watch

struct Probe {
  std::string server_version;
  std::uint64_t relay_queue = 0;
};
struct ProbeJob {
  Probe operator()(store::Connection& c) const {
    store::ping(c);
    Probe p;
    p.server_version = c.server_version();
    p.relay_queue = admin::queue_length(c);
    return p;
  }
};

json database_json(const CommandContext& ctx, const store::DbResult<Probe>& db) {
  json d = {{"mode", ctx.cfg.database.mode == config::DatabaseMode::managed ? "managed" : "external"},
            {"name", ctx.cfg.database.name},
            {"state", db ? "up" : "down"},
            {"queue_depth", ctx.pool.queue_depth()},
            {"workers", ctx.pool.threads()}};
  if (db) {
    d["server_version"] = db->server_version;
    d["relay_queue"] = db->relay_queue;
  } else {
    d["error"] = db.error().message;
  }
  return d;
}

json stats_json(const CommandContext& ctx, const store::DbResult<Probe>& db) {
  json listeners = json::array();
  for (const auto& l : ctx.stats.listeners()) {
    json entry = {{"protocol", l.protocol}, {"address", l.address}};
    listeners.push_back(std::move(entry));
  }
  json counters = json::object();
  for (const auto& [name, value] : ctx.stats.counters()) counters[name] = value;
  return {{"version", kVersion},
          {"hostname", ctx.cfg.server.hostname},
          {"uptime_seconds", ctx.stats.uptime_seconds()},
          {"listeners", std::move(listeners)},
          {"database", database_json(ctx, db)},
          {"connections_open", ctx.stats.connections_open.load()},
          {"connections_total", ctx.stats.connections_total.load()},
          {"counters", std::move(counters)}};
}

// The watch stream, one JSON object per line after the response:
//
//   {"v":1,"event":"snapshot","time_ms":1795500000000, ...the fields of `status`:
//    "version","hostname","uptime_seconds","listeners":[{"protocol","address"}],
//    "database":{"state":"up"|"down","mode","name","queue_depth","workers",
//                "server_version","relay_queue" | "error"},
//    "connections_open","connections_total","counters":{name: n},
//    "sessions":[...as session.list]}
//       every interval_seconds (the first one at once);
//   {"v":1,"event":"activity","seq":12,"time_ms":...,"type":"smtp.accepted",
//    "fields":[["from","a@example.org"],["size","1234"]]}
//       each event of the daemon's event ring (Stats::emit), oldest first, sent
//       before the next snapshot. `seq` grows by one per event; a gap means events
//       were dropped from the ring before this watcher saw them. `fields` keeps
//       the order in which they read best.
//
// Request arguments: "interval_seconds" (0.1 to 3600, default 1) and "since_seq"
// (default: the current last event, i.e. only new ones; 0 for the whole ring).
// The response result: {"interval_seconds":..,"last_event_seq":..}.
// The stream ends when the client closes its end (or at daemon shutdown).
struct WatchOptions {
  std::chrono::milliseconds interval{1000};
  std::uint64_t since = 0;
};

WatchOptions watch_options(const json& args, const services::Stats& stats) {
  WatchOptions o;
  o.since = stats.last_event_seq();
  for (const auto& [key, value] : args.items()) {
    if (key == "interval_seconds") {
      if (!value.is_number()) throw BadArgs("argument \"interval_seconds\" must be a number");
      double s = value.get<double>();
      if (!(s >= 0.1 && s <= 3600)) throw BadArgs("argument \"interval_seconds\" must be from 0.1 to 3600");
      o.interval = std::chrono::milliseconds(std::llround(s * 1000));
    } else if (key == "since_seq") {
      if (!value.is_number_unsigned()) throw BadArgs("argument \"since_seq\" must be a whole number");
      o.since = value.get<std::uint64_t>();
    } else {
      throw BadArgs(fmt::format("watch takes no argument \"{}\"", key));
    }
  }
  return o;
}

std::string activity_line(const services::StatsEvent& e) {
  json fields = json::array();
  for (const auto& [k, v] : e.fields) {
    json pair = {k, v};
    fields.push_back(std::move(pair));
  }
  json j = {{"v", control::kProtocolVersion}, {"event", "activity"}, {"seq", e.seq},
            {"time_ms", e.unix_ms},           {"type", e.type},       {"fields", std::move(fields)}};
  return dump(j) + "\n";
}

std::string snapshot_line(const CommandContext& ctx, const store::DbResult<Probe>& db) {
  json j = stats_json(ctx, db);
  j["v"] = control::kProtocolVersion;
  j["event"] = "snapshot";
  j["time_ms"] = now_ms();
  j["sessions"] = sessions_json(ctx);
  return dump(j) + "\n";
}

// Reads (and ignores) whatever the client sends until it closes its end.
asio::awaitable<void> watch_reader(stream_protocol::socket& sock) {
  char buf[512];
  for (;;) {
    auto [ec, n] = co_await sock.async_read_some(asio::buffer(buf), asio::experimental::as_tuple(asio::use_awaitable));
    if (ec) co_return;
  }
}

asio::awaitable<void> watch_writer(stream_protocol::socket& sock, WatchOptions o, CommandContext& ctx) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  std::uint64_t seq = o.since;
  for (;;) {
    std::string out;
    for (const auto& e : ctx.stats.events_after(seq)) {
      out += activity_line(e);
      seq = e.seq;
    }
    ProbeJob job;
    auto db = co_await store::async_run(ctx.pool, std::move(job), asio::use_awaitable);
    out += snapshot_line(ctx, db);
    auto [ec, n] = co_await asio::async_write(sock, asio::buffer(out), asio::experimental::as_tuple(asio::use_awaitable));
    if (ec) co_return;
    timer.expires_after(o.interval);
    auto [tec] = co_await timer.async_wait(asio::experimental::as_tuple(asio::use_awaitable));
    if (tec) co_return;
  }
}

// `relay test`: a session with the relay as the queue runner would open it, each step
// reported; "passed" false (shicksctl exits 1) when a step fails.
asio::awaitable<control::Response> relay_test(const control::Request& req, const PeerCred& peer, const std::string& sid,
                                              CommandContext& ctx) {
  control::Response resp;
  resp.id = req.id;
  json args = json::parse(req.args_json, nullptr, false);
  if (args.is_object() && !args.empty()) {
    resp.error = fmt::format("relay.test takes no argument \"{}\"", args.begin().key());
    co_return resp;
  }
  if (!ctx.settings) {
    resp.error = "the relay settings are not available";
    co_return resp;
  }
  relay::RelaySettings settings = relay::current_settings(*ctx.settings, ctx.cfg.server.hostname);
  if (settings.host.empty()) {
    resp.error = "no relay is configured (shicksctl relay set --host HOST)";
    co_return resp;
  }
  json r = {{"host", settings.host}, {"port", settings.port}, {"tls", ctx.settings->get("relay.tls")},
            {"tls_verify", settings.verify}, {"auth", !settings.username.empty()},
            {"allow_plaintext_auth", settings.allow_plaintext_auth}};
  auto report = co_await relay::test_relay(std::move(settings));
  json steps = json::array();
  for (const auto& st : report.steps) {
    json step = {{"step", st.step}, {"ok", st.ok}, {"lines", st.lines}};
    steps.push_back(std::move(step));
  }
  r["steps"] = std::move(steps);
  r["passed"] = report.ok;
  r["error"] = report.ok ? json(nullptr) : json(report.error);
  resp.ok = true;
  resp.result_json = dump(r);
  log::Event ev(log::Level::info, sid, "control.request");
  ev.kv("cmd", "relay.test").kv("user", peer.user).kv("pid", peer.pid).kv("result", report.ok ? "passed" : "failed");
  if (!report.ok) ev.kv("reason", report.error);
  co_return resp;
}

}  // namespace

asio::awaitable<control::Response> run_command(const control::Request& req, const PeerCred& peer,
                                               const std::string& sid, CommandContext& ctx) {
  control::Response resp;
  resp.id = req.id;
  if (req.cmd == "ping") {
    resp.ok = true;
    json r = {{"pong", true}, {"version", kVersion}};
    resp.result_json = dump(r);
    co_return resp;
  }
  if (req.cmd == "status") {
    ProbeJob job;
    auto db = co_await store::async_run(ctx.pool, std::move(job), asio::use_awaitable);
    resp.ok = true;
    resp.result_json = dump(stats_json(ctx, db));
    co_return resp;
  }
  if (req.cmd == "reload") {
    log::Event(log::Level::info, sid, "control.request").kv("cmd", "reload").kv("user", peer.user).kv("pid", peer.pid);
    ctx.reload();
    resp.ok = true;
    json r = {{"reloaded", true}};
    resp.result_json = dump(r);
    co_return resp;
  }
  if (req.cmd == "relay.test") co_return co_await relay_test(req, peer, sid, ctx);
  for (const auto& local : kLocalCommands)
    if (req.cmd == local.name) co_return run_local(local, req, peer, sid, ctx);
  const Command* cmd = find_command(req.cmd);
  if (!cmd) {
    resp.error = fmt::format("unknown command \"{}\"", req.cmd);
    co_return resp;
  }
  json args = json::parse(req.args_json, nullptr, false);
  if (!args.is_object()) args = json::object();  // decode_request guarantees an object
  std::optional<Action> action;
  try {
    check_arg_names(*cmd, args);
    action = cmd->prepare(Args(args), ctx);
  } catch (const BadArgs& e) {
    resp.error = e.what();
  } catch (const nlohmann::json::exception& e) {
    resp.error = fmt::format("bad arguments: {}", e.what());
  }
  if (!action) {
    if (cmd->mutating)
      log::Event(log::Level::info, sid, "control.request").kv("cmd", cmd->name).kv("user", peer.user)
          .kv("pid", peer.pid).kv("result", "bad-arguments").kv("reason", resp.error);
    co_return resp;
  }
  RunAction job{std::move(action->job)};
  auto r = co_await store::async_run(ctx.pool, std::move(job), asio::use_awaitable);
  // Users and addresses may have changed: this daemon's remembered recipient
  // lookups go at once (other daemons notice the change counter).
  if (cmd->mutating && ctx.addresses) ctx.addresses->clear();
  const char* outcome = "ok";
  if (!r) {
    resp.error = db_failure_text(r.error());
    outcome = "failed";
  } else if (!*r) {
    resp.error = r->error();
    outcome = "refused";
  } else {
    resp.ok = true;
    resp.result_json = dump(r->value());
  }
  log::Event ev(cmd->mutating || !resp.ok ? log::Level::info : log::Level::debug, sid, "control.request");
  ev.kv("cmd", cmd->name).kv("user", peer.user).kv("pid", peer.pid);
  for (const auto& [k, v] : action->what) ev.kv(k, v);
  ev.kv("result", outcome);
  if (!resp.ok) ev.kv("reason", resp.error);
  co_return resp;
}

asio::awaitable<void> run_watch(stream_protocol::socket& sock, const control::Request& req, const PeerCred& peer,
                                const std::string& sid, CommandContext& ctx) {
  using namespace asio::experimental::awaitable_operators;
  json args = json::parse(req.args_json, nullptr, false);
  if (!args.is_object()) args = json::object();
  std::optional<WatchOptions> options;
  std::string error;
  try {
    options = watch_options(args, ctx.stats);
  } catch (const BadArgs& e) {
    error = e.what();
  }
  if (!options) {
    std::string out = control::encode_error(req.id, error);
    co_await asio::async_write(sock, asio::buffer(out), asio::use_awaitable);
    co_return;
  }
  log::Event(log::Level::info, sid, "control.watch").kv("user", peer.user).kv("pid", peer.pid)
      .kv("interval_ms", options->interval.count());
  control::Response resp;
  resp.id = req.id;
  resp.ok = true;
  json r = {{"interval_seconds", double(options->interval.count()) / 1000.0},
            {"last_event_seq", ctx.stats.last_event_seq()}};
  resp.result_json = dump(r);
  std::string out = control::encode_response(resp);
  co_await asio::async_write(sock, asio::buffer(out), asio::use_awaitable);
  auto reader = watch_reader(sock);
  auto writer = watch_writer(sock, *options, ctx);
  auto race = std::move(reader) || std::move(writer);
  co_await std::move(race);
  log::Event(log::Level::info, sid, "control.watch_end").kv("user", peer.user).kv("pid", peer.pid);
}

}  // namespace shicks::daemon
