#include <catch2/catch.hpp>

#include <fstream>
#include <set>
#include <sstream>
#include <string>

#include "server/admin/rules.hpp"
#include "server/spam/matcher.hpp"
#include "server/spam/subject.hpp"

using namespace shicks;

namespace {
std::vector<std::string> shipped_keywords() {
  std::ifstream in(std::string(SHICKS_SOURCE_DIR) + "/src/server/spam/spam-keywords.txt", std::ios::binary);
  REQUIRE(in);
  std::ostringstream text;
  text << in.rdbuf();
  return spam::keyword_lines(text.str());
}
}  // namespace

TEST_CASE("spam: the shipped keyword list is usable as it is", "[spam][defaults]") {
  const auto keywords = shipped_keywords();
  CHECK(keywords.size() >= 20);
  CHECK(keywords.size() <= 200);  // modest: a starting point, not a spam database
  std::set<std::string> folded;
  for (const auto& k : keywords) {
    INFO(k);
    auto n = admin::normalize_keyword(k);
    REQUIRE(n);
    CHECK(*n == k);
    CHECK_FALSE(spam::keyword_error(k));
    CHECK(folded.insert(spam::fold(k)).second);  // no duplicates, whatever the case
  }
  const spam::Matcher m(keywords);
  CHECK(m.rejected().empty());
  CHECK(m.match(spam::decode_subject("Buy VIAGRA now")));
  CHECK(m.match(spam::decode_subject("=?utf-8?Q?You_have_WON!?=")));
  // Ordinary subjects stay clean.
  for (const char* s : {"Meeting notes for Thursday", "Re: invoice 4711", "Your order has shipped",
                        "Lunch on Friday?", "Essex office move", "Quarterly report attached"}) {
    INFO(s);
    CHECK_FALSE(m.match(spam::decode_subject(s)));
  }
}
