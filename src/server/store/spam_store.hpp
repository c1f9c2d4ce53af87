#pragma once
// What the spam filter asks of the database: the keyword list with its change
// counter (for the daemon's cache), and the hits. Runs on DB workers; throws DbError.
#include <cstdint>
#include <string>
#include <vector>

#include "server/store/connection.hpp"

namespace shicks::store {

// The 'spam_keywords' change counter: it differs whenever the list changed.
std::uint64_t spam_keywords_version(Connection& c);
// Every keyword, oldest first (the order the Matcher reports a tie in).
std::vector<std::string> spam_keywords(Connection& c);

// One more hit of `keyword` (its count and last-hit time); nothing when it was
// deleted meanwhile.
void count_spam_hit(Connection& c, const std::string& keyword);
// Marks a stored message as tagged spam (messages.spam, messages.spam_keyword).
void mark_spam(Connection& c, std::uint64_t message_id, const std::string& keyword);

}  // namespace shicks::store
