#include "ctl/commands.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <fstream>
#include <sstream>

#include "ctl/format.hpp"
#include "ctl/password.hpp"
#include "server/spam/matcher.hpp"

namespace shicks::ctl {
using nlohmann::json;

namespace {

using Args = Expected<json, std::string>;

void out(const std::string& s) { std::fputs(s.c_str(), stdout); }

std::string text(const json& j, const char* key, const char* fallback = "-") {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return fallback;
  if (it->is_string()) return it->get<std::string>();
  return it->dump();
}

std::uint64_t number(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_number_unsigned() ? it->get<std::uint64_t>() : 0;
}

bool flag(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_boolean() && it->get<bool>();
}

std::string list_text(const json& j, const char* key) {
  std::string s;
  auto it = j.find(key);
  if (it == j.end() || !it->is_array()) return s;
  for (const auto& e : *it)
    if (e.is_string()) s += (s.empty() ? "" : ", ") + e.get<std::string>();
  return s;
}

std::string plural(std::uint64_t n, const char* one, const char* many) {
  return std::to_string(n) + " " + (n == 1 ? one : many);
}

// ---- printers
// `status --verbose`: every listener and every counter, one per line.
void print_status_verbose(const json& r, const std::string& db_state) {
  const json db = r.value("database", json::object());
  Table t({{""}, {""}, {""}}, false);
  t.add({"database", text(db, "mode", "?") + " " + text(db, "name", "?"), db_state});
  if (db.contains("relay_queue")) t.add({"relay queue", plural(number(db, "relay_queue"), "entry", "entries"), ""});
  bool first = true;
  for (const auto& l : r.value("listeners", json::array())) {
    t.add({first ? "listeners" : "", text(l, "protocol", "?"), text(l, "address", "?")});
    first = false;
  }
  first = true;
  const json counters = r.value("counters", json::object());
  for (const auto& [name, value] : counters.items()) {
    if (!value.is_number_unsigned()) continue;
    t.add({first ? "counters" : "", name, std::to_string(value.get<std::uint64_t>())});
    first = false;
  }
  t.add({"connections", std::to_string(number(r, "connections_open")) + " open",
         std::to_string(number(r, "connections_total")) + " since start"});
  out(t.render());
}

// `status`: a few lines of 80 columns at most (but for long addresses): each
// protocol once with its addresses, and the counters a person looks at first.
void print_status_summary(const json& r, const std::string& db_state) {
  const json db = r.value("database", json::object());
  const json counters = r.value("counters", json::object());
  auto n = [&](const char* counter) { return std::to_string(number(counters, counter)); };
  std::vector<std::pair<std::string, std::string>> kv = {
      {"database", text(db, "mode", "?") + " " + text(db, "name", "?") + ", " + db_state}};
  if (db.contains("relay_queue")) kv.emplace_back("relay queue", plural(number(db, "relay_queue"), "entry", "entries"));
  std::vector<std::pair<std::string, std::string>> by_protocol;  // in the order they were opened
  std::string control;
  for (const auto& l : r.value("listeners", json::array())) {
    std::string protocol = text(l, "protocol", "?"), address = text(l, "address", "?");
    if (protocol == "control") {
      control = address;
      continue;
    }
    auto it = std::find_if(by_protocol.begin(), by_protocol.end(), [&](const auto& p) { return p.first == protocol; });
    if (it == by_protocol.end()) by_protocol.emplace_back(protocol, protocol + " " + address);
    else it->second += " " + address;
  }
  constexpr std::size_t kWidth = 80 - 13;  // after the labels ("relay queue" and two blanks)
  std::string line;
  const char* label = "listeners";
  for (std::size_t i = 0; i < by_protocol.size(); ++i) {
    std::string item = by_protocol[i].second + (i + 1 < by_protocol.size() ? "," : "");
    if (!line.empty() && display_width(line) + 1 + display_width(item) > kWidth) {
      kv.emplace_back(label, line);
      label = "";
      line.clear();
    }
    line += (line.empty() ? "" : " ") + item;
  }
  if (!line.empty()) kv.emplace_back(label, line);
  if (!control.empty()) kv.emplace_back("control", control);
  kv.emplace_back("connections", std::to_string(number(r, "connections_open")) + " open, " +
                                     std::to_string(number(r, "connections_total")) + " since start");
  kv.emplace_back("mail in", n("smtp_messages_accepted") + " accepted, " + n("smtp_messages_rejected") + " refused");
  kv.emplace_back("mail out", n("pop3_retrievals") + " retrieved over POP3, " + n("relay_sent") + " relayed, " +
                                  n("relay_deferred") + " deferred, " + n("relay_bounced") + " bounced");
  kv.emplace_back("spam", plural(number(counters, "spam_hits"), "hit", "hits") + ", " + n("spam_rejected") +
                              " refused");
  Table t({{""}, {""}}, false);
  for (auto& [k, v] : kv) t.add({std::move(k), std::move(v)});
  out(t.render());
}

void print_status(const json& r, bool verbose) {
  out(printable("shicksd " + text(r, "version", "?") + " on " + text(r, "hostname", "?") + ", up " +
                duration(number(r, "uptime_seconds"))) +
      "\n");
  const json db = r.value("database", json::object());
  std::string state = text(db, "state", "?");
  std::string detail = state == "up" ? text(db, "server_version", "") : text(db, "error", "");
  std::string db_state = state + (detail.empty() ? "" : " - " + detail);
  if (verbose) print_status_verbose(r, db_state);
  else print_status_summary(r, db_state);
}

void print_user(const json& u) {
  std::vector<std::pair<std::string, std::string>> kv = {
      {"user", text(u, "name")},
      {"enabled", flag(u, "enabled") ? "yes" : "no"},
      {"created", when(text(u, "created_at", "")) + " UTC"},
      {"last login", u.value("last_login_at", json()).is_null() ? "never" : when(text(u, "last_login_at")) + " UTC"},
      {"mailbox", plural(number(u, "messages"), "message", "messages") + ", " + human_size(number(u, "mailbox_bytes"))},
  };
  const json list = u.value("addresses", json::array());
  if (list.empty()) kv.emplace_back("addresses", "none");
  out(fields(kv));
  if (list.empty()) return;
  out("addresses:\n");
  for (const auto& a : list) {
    std::string line = text(a, "address");
    std::uint64_t n = number(a, "users");
    if (n > 1) line += " (shared with " + plural(n - 1, "other user", "other users") + ")";
    out("  " + printable(line) + "\n");
  }
}

void print_users(const json& r) {
  const json users = r.value("users", json::array());
  if (users.empty()) return out("no users\n");
  Table t({{"NAME"},
           {"ENABLED"},
           {"ADDRESSES", Table::right},
           {"MESSAGES", Table::right},
           {"SIZE", Table::right},
           {"LAST LOGIN (UTC)"}});
  for (const auto& u : users)
    t.add({text(u, "name"), flag(u, "enabled") ? "yes" : "no", std::to_string(number(u, "address_count")),
           std::to_string(number(u, "messages")), human_size(number(u, "mailbox_bytes")),
           u.value("last_login_at", json()).is_null() ? "never" : when(text(u, "last_login_at"))});
  out(t.render());
}

void print_addresses(const json& r) {
  const json list = r.value("addresses", json::array());
  if (list.empty()) return out("no addresses\n");
  Table t({{"ADDRESS"}, {"DELIVERS TO"}});
  for (const auto& a : list) {
    std::string users = list_text(a, "users");
    t.add({text(a, "address"), users.empty() ? "(nobody)" : users});
  }
  out(t.render());
}

void print_mailbox(const json& r) {
  const json list = r.value("messages", json::array());
  if (list.empty()) return out(printable("the mailbox of " + text(r, "user") + " is empty") + "\n");
  Table t({{"ID", Table::right},
           {"SIZE", Table::right},
           {"RECEIVED (UTC)"},
           {"FROM", Table::left, 32},
           {"SUBJECT", Table::left, 48},
           {"SPAM"}});
  for (const auto& m : list) {
    std::string from = text(m, "from", "");
    if (from.empty()) from = text(m, "envelope_from", "");
    if (from.empty()) from = "<>";
    t.add({std::to_string(number(m, "id")), human_size(number(m, "size")), when(text(m, "received_at", "")), from,
           text(m, "subject", ""), flag(m, "spam") ? "yes" : ""});
  }
  out(t.render());
  out(plural(list.size(), "message", "messages") + ", " + human_size(number(r, "total_bytes")) + "\n");
}

void print_relay(const json& r) {
  if (!flag(r, "enabled")) out("relaying is off (no relay host)\n");
  std::vector<std::pair<std::string, std::string>> kv = {
      {"host", text(r, "host", "")},
      {"port", text(r, "port")},
      {"tls", text(r, "tls")},
      {"verify certificate", text(r, "tls_verify")},
      {"username", text(r, "username", "")},
      {"password", flag(r, "password_set") ? "(set)" : "(not set)"},
      {"plaintext AUTH allowed", text(r, "allow_plaintext_auth", "false")},
  };
  for (const auto& [k, v] : r.items()) {
    if (k == "host" || k == "port" || k == "tls" || k == "tls_verify" || k == "username" || k == "password_set" ||
        k == "allow_plaintext_auth" || k == "enabled")
      continue;
    kv.emplace_back(k, v.is_string() ? v.get<std::string>() : v.dump());
  }
  out(fields(kv));
}

// relay test: each step with the relay's answer, then the verdict.
void print_relay_test(const json& r) {
  out(printable("relay " + text(r, "host") + " port " + text(r, "port") + ", tls " + text(r, "tls") +
                (flag(r, "tls_verify") ? "" : " (certificate not verified)")) +
      "\n");
  Table t({{"STEP", Table::left, 32}, {"RESULT"}, {"ANSWER", Table::left, 72}});
  for (const auto& st : r.value("steps", json::array())) {
    const json lines = st.value("lines", json::array());
    std::string first = lines.empty() || !lines[0].is_string() ? "" : lines[0].get<std::string>();
    t.add({text(st, "step"), flag(st, "ok") ? "ok" : "FAILED", first});
    for (std::size_t i = 1; i < lines.size(); ++i)
      if (lines[i].is_string()) t.add({"", "", lines[i].get<std::string>()});
  }
  out(t.render());
  if (flag(r, "passed")) out("relay test passed\n");
  else out(printable("relay test FAILED: " + text(r, "error")) + "\n");
}

void print_keywords(const json& r) {
  const json list = r.value("keywords", json::array());
  if (list.empty()) return out("no spam keywords\n");
  Table t({{"KEYWORD", Table::left, 60}, {"HITS", Table::right}, {"LAST HIT (UTC)"}});
  for (const auto& k : list)
    t.add({text(k, "keyword"), std::to_string(number(k, "hits")),
           k.value("last_hit_at", json()).is_null() ? "never" : when(text(k, "last_hit_at"))});
  out(t.render());
}

// `spam test`: the verdict on the first line, for scripts.
void print_spam_test(const json& r) {
  const bool spam = flag(r, "spam");
  const std::string action = text(r, "action");
  out(fields({{"verdict", spam ? "spam" : "not spam"},
              {"keyword", spam ? text(r, "keyword") : "-"},
              {"subject", text(r, "decoded", "")},
              {"action", spam && action != "off" ? action : "none (spam.action = " + action + ")"}}));
}

std::vector<std::pair<std::string, std::string>> queue_fields(const json& q) {
  return {{"id", std::to_string(number(q, "id"))},
          {"recipient", text(q, "recipient")},
          {"sender", text(q, "sender", "") == "" ? "<>" : text(q, "sender")},
          {"message", std::to_string(number(q, "message_id")) + ", " + human_size(number(q, "size"))},
          {"from", text(q, "from", "")},
          {"subject", text(q, "subject", "")},
          {"queued", when(text(q, "created_at", "")) + " UTC"},
          {"attempts", std::to_string(number(q, "attempts"))},
          {"last attempt", q.value("last_attempt_at", json()).is_null() ? "never" : when(text(q, "last_attempt_at")) + " UTC"},
          {"last error", text(q, "last_error")},
          {"next attempt", when(text(q, "next_attempt_at", "")) + " UTC"},
          {"claimed by", q.value("claimed_by", json()).is_null()
                             ? "-"
                             : text(q, "claimed_by") + " until " + when(text(q, "claimed_until", "")) + " UTC"}};
}

void print_queue(const json& r) {
  const json list = r.value("entries", json::array());
  if (list.empty()) return out("the relay queue is empty\n");
  Table t({{"ID", Table::right},
           {"RECIPIENT", Table::left, 40},
           {"SENDER", Table::left, 32},
           {"SIZE", Table::right},
           {"ATTEMPTS", Table::right},
           {"NEXT ATTEMPT (UTC)"},
           {"LAST ERROR", Table::left, 40}});
  for (const auto& q : list) {
    std::string sender = text(q, "sender", "");
    t.add({std::to_string(number(q, "id")), text(q, "recipient"), sender.empty() ? "<>" : sender,
           human_size(number(q, "size")), std::to_string(number(q, "attempts")), when(text(q, "next_attempt_at", "")),
           text(q, "last_error", "")});
  }
  out(t.render());
}

void print_sessions(const json& r) {
  const json list = r.value("sessions", json::array());
  if (list.empty()) return out("no open sessions\n");
  Table t({{"ID"},
           {"PROTOCOL"},
           {"PEER", Table::left, 40},
           {"USER", Table::left, 24},
           {"STATE"},
           {"TLS"},
           {"AGE", Table::right},
           {"IN", Table::right},
           {"OUT", Table::right}});
  for (const auto& s : list)
    t.add({text(s, "id"), text(s, "protocol"), text(s, "peer"), text(s, "user"), text(s, "state"),
           flag(s, "tls") ? "yes" : "no", duration(number(s, "age_seconds")), human_size(number(s, "bytes_in")),
           human_size(number(s, "bytes_out"))});
  out(t.render());
}

void print_bans(const json& r) {
  const json list = r.value("bans", json::array());
  if (list.empty()) return out("no banned addresses\n");
  Table t({{"ADDRESS", Table::left, 40}, {"FAILURES", Table::right}, {"BANNED FOR", Table::right}});
  for (const auto& b : list)
    t.add({text(b, "ip"), std::to_string(number(b, "failures")), duration(number(b, "retry_after_seconds"))});
  out(t.render());
}

std::string setting_value(const json& s) {
  if (flag(s, "secret")) return flag(s, "set") ? "(set)" : "(not set)";
  return text(s, "value", "");
}

void print_settings(const json& r) {
  Table t({{"KEY"}, {"VALUE", Table::left, 40}, {"DEFAULT", Table::left, 20}});
  for (const auto& s : r.value("settings", json::array())) {
    std::string v = setting_value(s), d = flag(s, "secret") ? "" : text(s, "default", "");
    t.add({text(s, "name"), v.empty() ? "\"\"" : v, d.empty() ? "\"\"" : d});
  }
  out(t.render());
}

// Reads a keyword file ("-": standard input).
Expected<std::vector<std::string>, std::string> read_keyword_file(const std::string& path) {
  std::stringstream buf;
  if (path == "-") {
    buf << std::cin.rdbuf();
  } else {
    std::ifstream in(path, std::ios::binary);
    if (!in) return unexpected("cannot read " + path + ": " + std::strerror(errno));
    buf << in.rdbuf();
  }
  return spam::keyword_lines(buf.str());
}

}  // namespace

// Every option's storage; CLI11 writes here while parsing.
struct Commands::Options {
  std::string name, address, key, value, file, subject;
  std::vector<std::string> emails, users, keywords;
  std::string user_filter;
  bool password_stdin = false;
  bool verbose = false;
  std::string host, tls, username;
  bool allow_plaintext_auth = false;
  std::string session;
  std::string ip;
  int port = 0;
  std::uint64_t id = 0;
};

Commands::Commands(CLI::App& app) : o_(std::make_unique<Options>()) {
  Options& o = *o_;
  auto no_args = []() -> Args { return json::object(); };
  auto add = [&](CLI::App* sub, std::string request, std::function<Args()> args,
                 std::function<void(const json&)> print) {
    list_.push_back({sub, std::move(request), std::move(args), std::move(print)});
  };
  auto group = [&](const char* name, const char* help) {
    auto* g = app.add_subcommand(name, help);
    g->require_subcommand(1);
    return g;
  };

  // ---- status, ping, reload
  {
    auto* s = app.add_subcommand("status", "version, uptime, database, listeners, connections, mail in and out, spam");
    s->add_flag("-v,--verbose", o.verbose, "every listener address and every counter");
    add(s, "status", no_args, [&o](const json& r) { print_status(r, o.verbose); });
  }
  add(app.add_subcommand("ping", "check that the daemon answers"), "ping", no_args,
      [](const json& r) { out("shicksd " + text(r, "version", "?") + " answers\n"); });
  add(app.add_subcommand("reload", "re-read shicks.toml (like SIGHUP)"), "reload", no_args, [](const json&) {
    out("configuration reloaded (see the daemon's log for keys that need a restart)\n");
  });

  // ---- users
  auto* user = group("user", "manage users (mailboxes and logins)");
  {
    auto* s = user->add_subcommand("add", "create a user; the password is prompted or read from stdin");
    s->add_option("NAME", o.name, "login name")->required();
    s->add_option("--email", o.emails, "an address delivering to this user (repeatable)")->allow_extra_args(false);
    s->add_flag("--password-stdin", o.password_stdin, "read the password as one line from standard input");
    add(s, "user.add",
        [&o]() -> Args {
          auto pw = read_new_password(o.password_stdin, "user " + o.name);
          if (!pw) return unexpected(pw.error());
          return json{{"name", o.name}, {"password", *pw}, {"addresses", o.emails}};
        },
        [](const json& r) {
          std::string addresses = "";
          for (const auto& a : r.value("addresses", json::array())) addresses += (addresses.empty() ? "" : ", ") + text(a, "address");
          out(printable("user " + text(r, "name") + " added" + (addresses.empty() ? "" : " with " + addresses)) + "\n");
        });
  }
  {
    auto* s = user->add_subcommand("del", "delete a user, their mailbox and the addresses only they receive");
    s->add_option("NAME", o.name, "login name")->required();
    add(s, "user.del", [&o]() -> Args { return json{{"name", o.name}}; }, [](const json& r) {
      std::string msg = "user " + text(r, "name") + " deleted, with " +
                        plural(number(r, "messages_removed"), "message", "messages");
      std::string gone = list_text(r, "addresses_removed");
      if (!gone.empty()) msg += " and the addresses " + gone;
      out(printable(msg) + "\n");
    });
  }
  add(user->add_subcommand("list", "list users with their mailbox size and last login"), "user.list", no_args,
      print_users);
  {
    auto* s = user->add_subcommand("show", "show a user: addresses, mailbox, last login");
    s->add_option("NAME", o.name, "login name")->required();
    add(s, "user.show", [&o]() -> Args { return json{{"name", o.name}}; }, print_user);
  }
  {
    auto* s = user->add_subcommand("passwd", "set a user's password (prompted, or read from stdin)");
    s->add_option("NAME", o.name, "login name")->required();
    s->add_flag("--password-stdin", o.password_stdin, "read the password as one line from standard input");
    add(s, "user.passwd",
        [&o]() -> Args {
          auto pw = read_new_password(o.password_stdin, "user " + o.name);
          if (!pw) return unexpected(pw.error());
          return json{{"name", o.name}, {"password", *pw}};
        },
        [](const json& r) { out(printable("password of " + text(r, "name") + " changed") + "\n"); });
  }
  for (bool enable : {false, true}) {
    auto* s = user->add_subcommand(enable ? "enable" : "disable",
                                   enable ? "let a user log in and receive mail again"
                                          : "refuse a user's logins and mail (nothing is deleted)");
    s->add_option("NAME", o.name, "login name")->required();
    add(s, enable ? "user.enable" : "user.disable", [&o]() -> Args { return json{{"name", o.name}}; },
        [enable](const json& r) {
          const char* state = enable ? "enabled" : "disabled";
          out(printable("user " + text(r, "name") + (flag(r, "changed") ? " " : " was already ") + state) + "\n");
        });
  }

  // ---- addresses
  auto* address = group("address", "manage addresses, aliases and catch-alls");
  {
    auto* s = address->add_subcommand(
        "add", "add an address delivering to one user, or to several (an alias); \"@domain\" is a catch-all");
    s->add_option("ADDR", o.address, "local@domain, or @domain for the domain's catch-all")->required();
    s->add_option("--user", o.users, "a user receiving this address's mail (repeatable)")
        ->required()
        ->allow_extra_args(false);
    add(s, "address.add", [&o]() -> Args { return json{{"address", o.address}, {"users", o.users}}; },
        [](const json& r) {
          out(printable("address " + text(r, "address") + " delivers to " + list_text(r, "users")) + "\n");
        });
  }
  {
    auto* s = address->add_subcommand("del", "delete an address (its users keep their mail)");
    s->add_option("ADDR", o.address, "the address, as listed")->required();
    add(s, "address.del", [&o]() -> Args { return json{{"address", o.address}}; },
        [](const json& r) { out(printable("address " + text(r, "address") + " deleted") + "\n"); });
  }
  {
    auto* s = address->add_subcommand("list", "list addresses and the users they deliver to");
    s->add_option("--user", o.user_filter, "only the addresses delivering to this user");
    add(s, "address.list",
        [&o]() -> Args {
          json a = json::object();
          if (!o.user_filter.empty()) a["user"] = o.user_filter;
          return a;
        },
        print_addresses);
  }

  // ---- mailboxes
  auto* mailbox = group("mailbox", "look into and empty mailboxes");
  {
    auto* s = mailbox->add_subcommand("list", "list the messages of a user's mailbox");
    s->add_option("NAME", o.name, "the user")->required();
    add(s, "mailbox.list", [&o]() -> Args { return json{{"user", o.name}}; }, print_mailbox);
  }
  {
    auto* s = mailbox->add_subcommand("purge", "delete every message of a user's mailbox");
    s->add_option("NAME", o.name, "the user")->required();
    add(s, "mailbox.purge", [&o]() -> Args { return json{{"user", o.name}}; }, [](const json& r) {
      out(printable("purged " + plural(number(r, "messages_removed"), "message", "messages") + " (" +
                    human_size(number(r, "bytes_removed")) + ") from the mailbox of " + text(r, "user")) +
          "\n");
    });
  }

  // ---- relay
  auto* relay = group("relay", "the smarthost that receives mail for non-local recipients");
  add(relay->add_subcommand("show", "show the relay settings (the password is never shown)"), "relay.show", no_args,
      print_relay);
  {
    auto* s = relay->add_subcommand(
        "set", "set the relay; options not given keep their values (--allow-plaintext-auth must be repeated)");
    s->add_option("--host", o.host, "host name or address of the smarthost")->required();
    s->add_option("--port", o.port, "port (default 25)")->check(CLI::Range(1, 65535));
    s->add_option("--tls", o.tls, "none, starttls or tls (implicit TLS)")
        ->check(CLI::IsMember({"none", "starttls", "tls"}));
    s->add_option("--username", o.username, "AUTH user at the smarthost (\"\" for none)");
    s->add_flag("--password-stdin", o.password_stdin,
                "read the AUTH password as one line from standard input (without echo on a terminal)");
    s->add_flag("--allow-plaintext-auth", o.allow_plaintext_auth,
                "send the AUTH password without TLS (--tls none) to a relay that is not on loopback: only for a "
                "relay on a trusted network");
    add(s, "relay.set",
        [&o, s]() -> Args {
          json a = {{"host", o.host}};
          if (s->count("--port")) a["port"] = std::to_string(o.port);
          if (s->count("--tls")) a["tls"] = o.tls;
          if (s->count("--username")) a["username"] = o.username;
          if (o.allow_plaintext_auth) a["allow_plaintext_auth"] = "true";
          if (o.password_stdin) {
            auto pw = read_secret_line("Relay password: ");
            if (!pw) return unexpected(pw.error());
            a["password"] = *pw;
          }
          return a;
        },
        [](const json& r) {
          out("relay set\n");
          print_relay(r);
        });
  }
  add(relay->add_subcommand("clear", "forget the relay: mail for non-local recipients is refused"), "relay.clear",
      no_args, [](const json&) { out("relay cleared: relaying is off\n"); });
  add(relay->add_subcommand("test", "connect to the relay: greeting, EHLO, STARTTLS, AUTH, QUIT (exit 1 on failure)"),
      "relay.test", no_args, print_relay_test);

  // ---- spam keywords
  auto* spam = group("spam", "spam keywords (matched against the Subject)");
  {
    auto* s = spam->add_subcommand("add-keyword", "add keywords (refused if one exists)");
    s->add_option("KEYWORD", o.keywords, "keywords, matched case-insensitively")->required();
    add(s, "spam.add", [&o]() -> Args { return json{{"keywords", o.keywords}}; }, [](const json& r) {
      out(printable("added " + plural(r.value("added", json::array()).size(), "keyword", "keywords") + ": " +
                    list_text(r, "added")) +
          "\n");
    });
  }
  {
    auto* s = spam->add_subcommand("del-keyword", "delete keywords");
    s->add_option("KEYWORD", o.keywords, "keywords")->required();
    add(s, "spam.del", [&o]() -> Args { return json{{"keywords", o.keywords}}; }, [](const json& r) {
      out(printable("deleted " + plural(r.value("deleted", json::array()).size(), "keyword", "keywords") + ": " +
                    list_text(r, "deleted")) +
          "\n");
    });
  }
  add(spam->add_subcommand("list", "list keywords with their hit counts"), "spam.list", no_args, print_keywords);
  {
    auto* s = spam->add_subcommand("test", "the verdict on a Subject (raw, e.g. =?utf-8?B?...?=, or as read)");
    s->add_option("SUBJECT", o.subject, "the Subject field's text")->required();
    add(s, "spam.test", [&o]() -> Args { return json{{"subject", o.subject}}; }, print_spam_test);
  }
  {
    auto* s = spam->add_subcommand("import", "add the keywords of a file (one per line, # comments; - for stdin)");
    s->add_option("FILE", o.file, "the file")->required();
    add(s, "spam.import",
        [&o]() -> Args {
          auto k = read_keyword_file(o.file);
          if (!k) return unexpected(k.error());
          if (k->empty()) return unexpected(o.file + " holds no keywords");
          return json{{"keywords", *k}};
        },
        [](const json& r) {
          out("imported " + plural(number(r, "added"), "keyword", "keywords") + " (" +
              std::to_string(number(r, "present")) + " already present)\n");
        });
  }

  // ---- relay queue
  auto* queue = group("queue", "the outbound relay queue");
  add(queue->add_subcommand("list", "list queued recipients"), "queue.list", no_args, print_queue);
  {
    auto* s = queue->add_subcommand("show", "show one queue entry");
    s->add_option("ID", o.id, "the entry's id (queue list)")->required();
    add(s, "queue.show", [&o]() -> Args { return json{{"id", o.id}}; },
        [](const json& r) { out(fields(queue_fields(r))); });
  }
  add(queue->add_subcommand("flush", "try every queued recipient now"), "queue.flush", no_args, [](const json& r) {
    out(plural(number(r, "flushed"), "queue entry is", "queue entries are") + " due now\n");
  });
  {
    auto* s = queue->add_subcommand("del", "delete one queue entry (no bounce is sent)");
    s->add_option("ID", o.id, "the entry's id (queue list)")->required();
    add(s, "queue.del", [&o]() -> Args { return json{{"id", o.id}}; }, [](const json& r) {
      const json d = r.value("deleted", json::object());
      out(printable("queue entry " + std::to_string(number(d, "id")) + " (" + text(d, "recipient") + ") deleted") +
          "\n");
    });
  }

  // ---- open SMTP and POP3 sessions
  auto* session = group("session", "open SMTP and POP3 connections");
  add(session->add_subcommand("list", "list open sessions: peer, user, state, age, bytes"), "session.list", no_args,
      print_sessions);
  {
    auto* s = session->add_subcommand("kill", "end an open session at once (POP3: nothing is deleted)");
    s->add_option("ID", o.session, "the session's id (session list), e.g. p7")->required();
    add(s, "session.kill", [&o]() -> Args { return json{{"id", o.session}}; },
        [](const json& r) { out(printable("session " + text(r, "killed") + " ended") + "\n"); });
  }

  // ---- failed-login bans
  auto* auth = group("auth", "addresses banned after too many failed logins");
  add(auth->add_subcommand("bans", "list banned addresses with their failures and the time the ban has left"),
      "auth.bans", no_args, print_bans);
  {
    auto* s = auth->add_subcommand("unban", "lift the ban of an address and forget its failures");
    s->add_option("IP", o.ip, "the address, e.g. 192.0.2.7 or 2001:db8::7")->required();
    add(s, "auth.unban", [&o]() -> Args { return json{{"ip", o.ip}}; },
        [](const json& r) { out(printable(text(r, "unbanned") + " is no longer banned") + "\n"); });
  }

  // ---- runtime settings
  auto* config = group("config", "runtime settings (stored in the database, effective at once)");
  add(config->add_subcommand("list", "list every setting with its value and default"), "config.list", no_args,
      print_settings);
  {
    auto* s = config->add_subcommand("get", "print one setting's value");
    s->add_option("KEY", o.key, "the setting")->required();
    add(s, "config.get", [&o]() -> Args { return json{{"key", o.key}}; },
        [](const json& r) { out(printable(setting_value(r)) + "\n"); });
  }
  {
    auto* s = config->add_subcommand("set", "change one setting (checked by the daemon)");
    s->add_option("KEY", o.key, "the setting")->required();
    s->add_option("VALUE", o.value, "its new value")->required();
    add(s, "config.set", [&o]() -> Args { return json{{"key", o.key}, {"value", o.value}}; },
        [](const json& r) { out(printable(text(r, "name") + " = " + setting_value(r)) + "\n"); });
  }
}

Commands::~Commands() = default;

const Command* Commands::selected() const {
  for (const auto& c : list_)
    if (c.sub->parsed()) return &c;
  return nullptr;
}

}  // namespace shicks::ctl
