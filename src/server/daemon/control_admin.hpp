#pragma once
// The handlers of the admin commands: users, addresses, mailboxes, the relay, spam
// keywords, the relay queue, runtime settings, open sessions, login bans, reload.
// Their rows (name, arguments, kind) are in control_dispatch.cpp; their answers'
// JSON is built in control_json.cpp. Arguments arrive checked; a handler that finds
// the request cannot be done returns (or its Job returns) the refusal.
#include <asio/awaitable.hpp>

#include "server/daemon/control_dispatch.hpp"

namespace shicks::daemon::commands {

// db: a Job for a DB worker. Passwords are hashed there (inside the store functions).
Job user_add(const Args&, Control&, Log&);
Job user_del(const Args&, Control&, Log&);
Job user_list(const Args&, Control&, Log&);
Job user_show(const Args&, Control&, Log&);
Job user_passwd(const Args&, Control&, Log&);
Job user_enable(const Args&, Control&, Log&);
Job user_disable(const Args&, Control&, Log&);
Job address_add(const Args&, Control&, Log&);
Job address_del(const Args&, Control&, Log&);
Job address_list(const Args&, Control&, Log&);
Job mailbox_list(const Args&, Control&, Log&);
Job mailbox_purge(const Args&, Control&, Log&);
Job relay_show(const Args&, Control&, Log&);
Job relay_set(const Args&, Control&, Log&);
Job relay_clear(const Args&, Control&, Log&);
Job spam_add(const Args&, Control&, Log&);
Job spam_del(const Args&, Control&, Log&);
Job spam_list(const Args&, Control&, Log&);
Job spam_import(const Args&, Control&, Log&);
Job spam_test(const Args&, Control&, Log&);
Job queue_list(const Args&, Control&, Log&);
Job queue_show(const Args&, Control&, Log&);
Job queue_flush(const Args&, Control&, Log&);
Job queue_del(const Args&, Control&, Log&);
Job config_list(const Args&, Control&, Log&);
Job config_get(const Args&, Control&, Log&);
Job config_set(const Args&, Control&, Log&);

// async: a session with the relay as the queue runner would open it.
asio::awaitable<Result> relay_test(const Args&, Control&, Log&);

// local: kept in this daemon's memory, answered without the database.
Result session_list(const Args&, Control&, Log&);
Result session_kill(const Args&, Control&, Log&);
Result auth_bans(const Args&, Control&, Log&);
Result auth_unban(const Args&, Control&, Log&);
Result reload(const Args&, Control&, Log&);

// The SMTP and POP3 sessions open now (session.list, and the watch snapshots).
nlohmann::json open_sessions(const services::ServerContext& server);

}  // namespace shicks::daemon::commands
