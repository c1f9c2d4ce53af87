#include "server/daemon/control_admin.hpp"

#include <chrono>

#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include "common/log.hpp"
#include "common/netaddr.hpp"
#include "server/config/runtime_settings.hpp"
#include "server/daemon/control_json.hpp"
#include "server/relay/queue_runner.hpp"
#include "server/relay/smtp_client.hpp"
#include "server/spam/subject.hpp"
#include "server/store/admin_store.hpp"
#include "server/store/relay_store.hpp"

namespace shicks::daemon::commands {
using nlohmann::json;

namespace {

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

// After a write to `settings` has committed, this daemon's cache reads the table
// again on the same connection, so the sessions see the change before the answer
// goes out; the read is labelled with the change counter, so a periodic read that
// began before the write cannot bring the old value back (settings_snapshot.hpp).
// A failure here is not the write's: the periodic read catches up.
void tell_cache(services::SettingsCache& cache, store::Connection& c) {
  try {
    cache.load(c);
  } catch (const store::DbError& e) {
    log::warn("settings.reload_failed").kv("error", e.what());
  }
}

// After a keyword change: the new list is used from the next message on, not only
// after the cache's next poll. The change is committed; a failure here only delays it.
template <class T>
admin::Outcome<T> refreshed(services::SpamCache& cache, store::Connection& c, admin::Outcome<T> r) {
  if (r) {
    try {
      cache.refresh(c);
    } catch (const store::DbError& e) {
      log::warn("spam.refresh_failed").kv("error", e.what()).kv("effect", "the next poll reads the list");
    }
  }
  return r;
}

Job set_enabled(const Args& a, Log& what, bool enabled) {
  std::string name = a.text("name");
  what.add("name", name);
  return [name, enabled](store::Connection& c) {
    return answer(admin::set_enabled(c, name, enabled),
                  [&](bool changed) { return answers::enabled(name, enabled, changed); });
  };
}

}  // namespace

// ---------------------------------------------------------------- users

Job user_add(const Args& a, Control&, Log& what) {
  admin::NewUser u{a.text("name"), a.text("password"), a.list("addresses")};
  what.add("name", u.name);
  what.add("addresses", joined(u.addresses));
  return [u = std::move(u)](store::Connection& c) { return answer(admin::add_user(c, u), answers::user_detail); };
}

Job user_del(const Args& a, Control&, Log& what) {
  std::string name = a.text("name");
  what.add("name", name);
  return [name](store::Connection& c) { return answer(admin::delete_user(c, name), answers::deleted_user); };
}

Job user_list(const Args&, Control&, Log&) {
  return [](store::Connection& c) -> Result { return answers::users(admin::list_users(c)); };
}

Job user_show(const Args& a, Control&, Log& what) {
  std::string name = a.text("name");
  what.add("name", name);
  return [name](store::Connection& c) { return answer(admin::show_user(c, name), answers::user_detail); };
}

Job user_passwd(const Args& a, Control&, Log& what) {
  std::string name = a.text("name"), password = a.text("password");
  what.add("name", name);
  return [name, password](store::Connection& c) -> Result {
    auto r = admin::set_password(c, name, password);
    if (!r) return unexpected(r.error());
    return answers::password_changed(name);
  };
}

Job user_enable(const Args& a, Control&, Log& what) { return set_enabled(a, what, true); }
Job user_disable(const Args& a, Control&, Log& what) { return set_enabled(a, what, false); }

// ---------------------------------------------------------------- addresses and mailboxes

Job address_add(const Args& a, Control&, Log& what) {
  std::string address = a.text("address");
  std::vector<std::string> users = a.list("users");
  what.add("address", address);
  what.add("users", joined(users));
  return [address, users](store::Connection& c) {
    return answer(admin::add_address(c, address, users), answers::address);
  };
}

Job address_del(const Args& a, Control&, Log& what) {
  std::string address = a.text("address");
  what.add("address", address);
  return [address](store::Connection& c) { return answer(admin::delete_address(c, address), answers::address); };
}

Job address_list(const Args& a, Control&, Log&) {
  std::optional<std::string> user = a.opt_text("user");
  return [user](store::Connection& c) { return answer(admin::list_addresses(c, user), answers::addresses); };
}

Job mailbox_list(const Args& a, Control&, Log&) {
  std::string user = a.text("user");
  return [user](store::Connection& c) {
    return answer(admin::list_mailbox(c, user),
                  [&](const std::vector<admin::MailboxMessage>& list) { return answers::mailbox(user, list); });
  };
}

Job mailbox_purge(const Args& a, Control&, Log& what) {
  std::string user = a.text("user");
  what.add("mailbox", user);
  return [user](store::Connection& c) {
    return answer(admin::purge_mailbox(c, user), [&](const admin::Purged& p) { return answers::purged(user, p); });
  };
}

// ---------------------------------------------------------------- relay

Job relay_show(const Args&, Control&, Log&) {
  return [](store::Connection& c) -> Result { return answers::relay(admin::list_settings(c, "relay.")); };
}

// Jobs hold the caches (they outlive the DB pool), not the Control.
Job relay_set(const Args& a, Control& ctl, Log& what) {
  admin::RelayUpdate u;
  u.host = a.text("host");
  u.port = a.opt_text("port");
  u.tls = a.opt_text("tls");
  u.username = a.opt_text("username");
  u.password = a.opt_text("password");
  u.allow_plaintext_auth = a.opt_text("allow_plaintext_auth");
  what.add("host", u.host);
  if (u.port) what.add("port", *u.port);
  if (u.tls) what.add("tls", *u.tls);
  if (u.username) what.add("username", *u.username);
  if (u.password) what.add("password", "(new)");
  if (u.allow_plaintext_auth) what.add("allow_plaintext_auth", *u.allow_plaintext_auth);
  services::SettingsCache* cache = &ctl.server.settings;
  return [u = std::move(u), cache](store::Connection& c) -> Result {
    auto r = admin::set_relay(c, u);
    if (!r) return unexpected(r.error());
    tell_cache(*cache, c);
    return answers::relay(*r);
  };
}

Job relay_clear(const Args&, Control& ctl, Log&) {
  services::SettingsCache* cache = &ctl.server.settings;
  return [cache](store::Connection& c) -> Result {
    auto settings = admin::clear_relay(c);
    tell_cache(*cache, c);
    return answers::relay(settings);
  };
}

// `relay test`: each step reported; "passed" false (shicksctl exits 1) when one fails.
asio::awaitable<Result> relay_test(const Args&, Control& ctl, Log& what) {
  services::SettingsCache& cache = ctl.server.settings;
  relay::RelaySettings settings = relay::current_settings(cache, ctl.server.cfg.server.hostname);
  if (settings.host.empty()) {
    Result refused = unexpected(std::string("no relay is configured (shicksctl relay set --host HOST)"));
    co_return refused;
  }
  json r = {{"host", settings.host}, {"port", settings.port}, {"tls", cache.get(config::setting::relay_tls)},
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
  what.result = report.ok ? "passed" : "failed";
  if (!report.ok) what.reason = report.error;
  Result answered = std::move(r);
  co_return answered;
}

// ---------------------------------------------------------------- spam keywords

// spam.add / spam.del: the change, then the daemon's matcher refreshed from the table.
template <class Change, class Answer>
Job keyword_change(const Args& a, Control& ctl, Log& what, Change change, Answer shape) {
  auto keywords = a.list("keywords");
  what.add("keywords", joined(keywords));
  services::SpamCache* cache = &ctl.server.spam;
  return [keywords, cache, change, shape](store::Connection& c) {
    return answer(refreshed(*cache, c, change(c, keywords)), shape);
  };
}

Job spam_add(const Args& a, Control& ctl, Log& what) {
  return keyword_change(a, ctl, what, admin::add_keywords, answers::keywords_added);
}

Job spam_del(const Args& a, Control& ctl, Log& what) {
  return keyword_change(a, ctl, what, admin::delete_keywords, answers::keywords_deleted);
}

Job spam_list(const Args&, Control&, Log&) {
  return [](store::Connection& c) -> Result { return answers::keywords(admin::list_keywords(c)); };
}

Job spam_import(const Args& a, Control& ctl, Log& what) {
  auto keywords = a.list("keywords");
  what.add("keywords", std::to_string(keywords.size()));
  services::SpamCache* cache = &ctl.server.spam;
  return [keywords, cache](store::Connection& c) {
    return answer(refreshed(*cache, c, admin::import_keywords(c, keywords)), answers::imported);
  };
}

// The verdict the filter gives a Subject, raw (encoded-words, folds) or as read,
// with the keywords this daemon uses now.
Job spam_test(const Args& a, Control& ctl, Log&) {
  std::string subject = a.text("subject");
  services::SpamCache* cache = &ctl.server.spam;
  services::SettingsCache* settings = &ctl.server.settings;
  return [subject, cache, settings](store::Connection&) -> Result {
    std::string decoded = spam::decode_subject(subject);
    auto matcher = cache->matcher();
    auto hit = matcher->match(decoded);
    return json{{"subject", subject},
                {"decoded", decoded},
                {"spam", hit.has_value()},
                {"keyword", hit ? json(hit->keyword) : json(nullptr)},
                {"action", settings->get(config::setting::spam_action)},
                {"keywords", matcher->size()}};
  };
}

// ---------------------------------------------------------------- relay queue

Job queue_list(const Args&, Control&, Log&) {
  return [](store::Connection& c) -> Result { return answers::queue(admin::list_queue(c)); };
}

Job queue_show(const Args& a, Control&, Log&) {
  std::uint64_t id = a.whole("id");
  return [id](store::Connection& c) { return answer(admin::show_queue(c, id), answers::queue_entry); };
}

// Everything is due now; rows a runner is sending keep their lease (no double send)
// and are tried again at once should that attempt end deferred (the flush mark).
Job queue_flush(const Args&, Control& ctl, Log&) {
  std::function<void()> wake = ctl.server.wake_relay;
  return [wake](store::Connection& c) -> Result {
    json r = answers::flushed(store::relay::flush(c));
    if (wake) wake();
    return r;
  };
}

Job queue_del(const Args& a, Control&, Log& what) {
  std::uint64_t id = a.whole("id");
  what.add("id", std::to_string(id));
  return [id](store::Connection& c) { return answer(admin::delete_queue(c, id), answers::queue_deleted); };
}

// ---------------------------------------------------------------- runtime settings

Job config_list(const Args&, Control&, Log&) {
  return [](store::Connection& c) -> Result { return answers::settings(admin::list_settings(c)); };
}

Job config_get(const Args& a, Control&, Log&) {
  std::string key = a.text("key");
  return [key](store::Connection& c) { return answer(admin::get_setting(c, key), answers::setting); };
}

Job config_set(const Args& a, Control& ctl, Log& what) {
  std::string key = a.text("key"), value = a.text("value");
  // A secret key is refused by the store; its value is still kept out of the log.
  const auto* known = config::find_runtime_setting(key);
  what.add("key", key);
  what.add("value", known && known->secret ? "(secret)" : value);
  services::SettingsCache* cache = &ctl.server.settings;
  return [key, value, cache](store::Connection& c) -> Result {
    auto r = admin::set_setting(c, key, value);
    if (!r) return unexpected(r.error());
    tell_cache(*cache, c);
    return answers::setting(*r);
  };
}

// ---------------------------------------------------------------- this daemon's memory

json open_sessions(const services::ServerContext& server) {
  auto now = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch());
  return answers::sessions(server.sessions.list(), now.count());
}

Result session_list(const Args&, Control& ctl, Log&) { return json{{"sessions", open_sessions(ctl.server)}}; }

Result session_kill(const Args& a, Control& ctl, Log& what) {
  std::string id = a.text("id");
  what.add("id", id);
  if (!ctl.server.sessions.kill(id)) return unexpected(fmt::format("no open session \"{}\" (see session list)", id));
  return json{{"killed", id}};
}

// The failed-login bans of this daemon (auth/throttle.hpp).
Result auth_bans(const Args&, Control& ctl, Log&) {
  return answers::bans(ctl.server.throttle.bans(auth::Throttle::Clock::now()));
}

Result auth_unban(const Args& a, Control& ctl, Log& what) {
  std::string text = a.text("ip");
  what.add("ip", text);
  auto ip = IpAddress::parse(text);
  if (!ip) return unexpected(fmt::format("\"{}\" is not an IP address", text));
  // The form the throttle counts under: IPv4-mapped IPv6 as IPv4, IPv6 compressed.
  const std::string key = ip->unmapped().to_string();
  if (!ctl.server.throttle.unban(key, auth::Throttle::Clock::now()))
    return unexpected(fmt::format("{} is not banned (shicksctl auth bans lists the banned addresses)", key));
  return json{{"unbanned", key}};
}

Result reload(const Args&, Control& ctl, Log&) {
  ctl.reload();
  return json{{"reloaded", true}};
}

}  // namespace shicks::daemon::commands
