#pragma once
// The JSON answers of the admin commands, built from the plain structs of the store
// (store/admin_store.hpp), the session registry and the login throttle. Pure code:
// no ASIO, no MySQL; shicksctl's output (src/ctl/commands.cpp) reads these shapes.
// Times are ISO 8601 UTC strings, or null when there is none.
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "server/auth/throttle.hpp"
#include "server/net/session_info.hpp"
#include "server/store/admin_store.hpp"

namespace shicks::daemon::answers {
using nlohmann::json;

// {"name","enabled","created_at","last_login_at","address_count","messages","mailbox_bytes"}
json user(const admin::UserSummary& s);
json users(const std::vector<admin::UserSummary>& list);  // {"users":[user...]}
// user + "addresses":[{"address","users"}]
json user_detail(const admin::UserDetail& d);
json deleted_user(const admin::DeletedUser& d);  // {"name","addresses_removed","messages_removed","bodies_removed"}
json password_changed(const std::string& name);  // {"name","password_changed":true}
json enabled(const std::string& name, bool enabled, bool changed);  // {"name","enabled","changed"}

json address(const admin::AddressInfo& a);  // {"address","catch_all","users"}
json addresses(const std::vector<admin::AddressInfo>& list);  // {"addresses":[address...]}

// {"user","messages":[{"id","size","received_at","from","envelope_from","subject","spam","spam_keyword"}],
//  "total_bytes"}; spam_keyword is null for a message that is not spam.
json mailbox(const std::string& user, const std::vector<admin::MailboxMessage>& list);
json purged(const std::string& user, const admin::Purged& p);  // {"user","messages_removed","bytes_removed","bodies_removed"}

// {"name","value","default","description","secret","set"}; a secret's value and default are null.
json setting(const admin::Setting& s);
json settings(const std::vector<admin::Setting>& list);  // {"settings":[setting...]}
// relay.* settings as one object: {"host":"...","port":"25",...,"password_set":true,"enabled":bool}.
json relay(const std::vector<admin::Setting>& relay_settings);

json keywords_added(const std::vector<std::string>& k);    // {"added":[...]}
json keywords_deleted(const std::vector<std::string>& k);  // {"deleted":[...]}
json keywords(const std::vector<admin::Keyword>& list);    // {"keywords":[{"keyword","hits","last_hit_at","created_at"}]}
json imported(const admin::Imported& i);                   // {"added","present"}

// {"id","message_id","sender","recipient","attempts","next_attempt_at","last_attempt_at","last_error",
//  "claimed_by","claimed_until","created_at","size","subject","from"}
json queue_entry(const admin::QueueEntry& q);
json queue(const std::vector<admin::QueueEntry>& list);  // {"entries":[queue_entry...]}
json queue_deleted(const admin::QueueDeleted& d);        // {"deleted":queue_entry,"body_removed"}
json flushed(std::uint64_t rows);                        // {"flushed":N}

// [{"id","protocol","peer","user"|null,"state","tls","started_ms","age_seconds","bytes_in","bytes_out"}]
json sessions(const std::vector<net::SessionInfo::View>& list, std::int64_t now_ms);
// {"bans":[{"ip","failures","retry_after_seconds"}]}
json bans(const std::vector<auth::Throttle::Ban>& list);

// Serialised for the response; invalid UTF-8 is replaced, not thrown on.
std::string dump(const json& j);

}  // namespace shicks::daemon::answers
