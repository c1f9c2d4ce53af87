#include "server/daemon/control_json.hpp"

#include <algorithm>

#include <nlohmann/json.hpp>

namespace shicks::daemon::answers {

namespace {
json time_or_null(const std::string& t) { return t.empty() ? json(nullptr) : json(t); }
json text_or_null(const std::string& t) { return t.empty() ? json(nullptr) : json(t); }
}  // namespace

json user(const admin::UserSummary& s) {
  return {{"name", s.name},
          {"enabled", s.enabled},
          {"created_at", time_or_null(s.created_at)},
          {"last_login_at", time_or_null(s.last_login_at)},
          {"address_count", s.addresses},
          {"messages", s.messages},
          {"mailbox_bytes", s.mailbox_bytes}};
}

json users(const std::vector<admin::UserSummary>& list) {
  json out = json::array();
  for (const auto& u : list) out.push_back(user(u));
  return json{{"users", std::move(out)}};
}

json user_detail(const admin::UserDetail& d) {
  json j = user(d.summary);
  json list = json::array();
  for (const auto& a : d.addresses) {
    json entry = {{"address", a.address}, {"users", a.users}};
    list.push_back(std::move(entry));
  }
  j["addresses"] = std::move(list);
  return j;
}

json deleted_user(const admin::DeletedUser& d) {
  return json{{"name", d.name},
              {"addresses_removed", d.addresses_removed},
              {"messages_removed", d.messages_removed},
              {"bodies_removed", d.bodies_removed}};
}

json password_changed(const std::string& name) { return json{{"name", name}, {"password_changed", true}}; }

json enabled(const std::string& name, bool enabled, bool changed) {
  return json{{"name", name}, {"enabled", enabled}, {"changed", changed}};
}

json address(const admin::AddressInfo& a) {
  return {{"address", a.address}, {"catch_all", a.catch_all}, {"users", a.users}};
}

json addresses(const std::vector<admin::AddressInfo>& list) {
  json out = json::array();
  for (const auto& i : list) out.push_back(address(i));
  return json{{"addresses", std::move(out)}};
}

json mailbox(const std::string& user, const std::vector<admin::MailboxMessage>& list) {
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
}

json purged(const std::string& user, const admin::Purged& p) {
  return json{{"user", user},
              {"messages_removed", p.messages},
              {"bytes_removed", p.bytes},
              {"bodies_removed", p.bodies_removed}};
}

json setting(const admin::Setting& s) {
  return {{"name", s.name},
          {"value", s.secret ? json(nullptr) : json(s.value)},
          {"default", s.secret ? json(nullptr) : json(s.default_value)},
          {"description", s.description},
          {"secret", s.secret},
          {"set", s.is_set}};
}

json settings(const std::vector<admin::Setting>& list) {
  json out = json::array();
  for (const auto& s : list) out.push_back(setting(s));
  return json{{"settings", std::move(out)}};
}

json relay(const std::vector<admin::Setting>& relay_settings) {
  json j = json::object();
  for (const auto& s : relay_settings) {
    std::string key = s.name.substr(std::string_view("relay.").size());
    if (s.secret) j[key + "_set"] = s.is_set;
    else j[key] = s.value;
  }
  j["enabled"] = j.contains("host") && !j["host"].get<std::string>().empty();
  return j;
}

json keywords_added(const std::vector<std::string>& k) { return json{{"added", k}}; }

json keywords_deleted(const std::vector<std::string>& k) { return json{{"deleted", k}}; }

json keywords(const std::vector<admin::Keyword>& list) {
  json out = json::array();
  for (const auto& k : list) {
    json entry = {{"keyword", k.keyword},
                  {"hits", k.hits},
                  {"last_hit_at", time_or_null(k.last_hit_at)},
                  {"created_at", time_or_null(k.created_at)}};
    out.push_back(std::move(entry));
  }
  return json{{"keywords", std::move(out)}};
}

json imported(const admin::Imported& i) { return json{{"added", i.added}, {"present", i.present}}; }

json queue_entry(const admin::QueueEntry& q) {
  return {{"id", q.id},
          {"message_id", q.message_id},
          {"sender", q.sender},
          {"recipient", q.recipient},
          {"attempts", q.attempts},
          {"next_attempt_at", time_or_null(q.next_attempt_at)},
          {"last_attempt_at", time_or_null(q.last_attempt_at)},
          {"last_error", text_or_null(q.last_error)},
          {"claimed_by", text_or_null(q.claimed_by)},
          {"claimed_until", time_or_null(q.claimed_until)},
          {"created_at", time_or_null(q.created_at)},
          {"size", q.size},
          {"subject", q.subject},
          {"from", q.header_from}};
}

json queue(const std::vector<admin::QueueEntry>& list) {
  json out = json::array();
  for (const auto& q : list) out.push_back(queue_entry(q));
  return json{{"entries", std::move(out)}};
}

json queue_deleted(const admin::QueueDeleted& d) {
  return json{{"deleted", queue_entry(d.entry)}, {"body_removed", d.body_removed}};
}

json flushed(std::uint64_t rows) { return json{{"flushed", rows}}; }

json sessions(const std::vector<net::SessionInfo::View>& list, std::int64_t now_ms) {
  json out = json::array();
  for (const auto& s : list) {
    json entry = {{"id", s.id},
                  {"protocol", s.protocol},
                  {"peer", s.peer},
                  {"user", text_or_null(s.user)},
                  {"state", s.state},
                  {"tls", s.tls},
                  {"started_ms", s.started_unix_ms},
                  {"age_seconds", std::max<std::int64_t>(0, (now_ms - s.started_unix_ms) / 1000)},
                  {"bytes_in", s.bytes_in},
                  {"bytes_out", s.bytes_out}};
    out.push_back(std::move(entry));
  }
  return out;
}

json bans(const std::vector<auth::Throttle::Ban>& list) {
  json out = json::array();
  for (const auto& b : list) {
    json entry = {{"ip", b.ip}, {"failures", b.failures}, {"retry_after_seconds", b.retry_after.count()}};
    out.push_back(std::move(entry));
  }
  return json{{"bans", std::move(out)}};
}

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

}  // namespace shicks::daemon::answers
