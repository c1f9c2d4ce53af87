#include "server/store/spam_store.hpp"

#include "server/store/sql.hpp"

namespace shicks::store {

std::uint64_t spam_keywords_version(Connection& c) {
  auto row = c.query_one(sql::kSpamKeywordsVersion);
  return row ? row->u64(0) : 0;
}

std::vector<std::string> spam_keywords(Connection& c) {
  std::vector<std::string> out;
  for (auto& row : c.query(sql::kSpamKeywords)) out.push_back(row.take(0));
  return out;
}

void count_spam_hit(Connection& c, const std::string& keyword) { c.exec(sql::kSpamCountHit, {keyword}); }

void mark_spam(Connection& c, std::uint64_t message_id, const std::string& keyword) {
  c.exec(sql::kSpamMarkMessage, {keyword, message_id});
}

}  // namespace shicks::store
