// Fuzz target for the spam filter's message rewrite (spam/tag.hpp).
//
// The first byte picks a keyword of a fixed set, or none; the rest is a message.
// Invariants (abort() on violation):
//   - filtering is idempotent, with and without a keyword: a second pass finds no
//     sender's X-Shicks-Spam field left and never tags twice;
//   - without a keyword the message only loses bytes (X-Shicks-Spam fields);
//   - a tagged message starts with the one X-Shicks-Spam line for the keyword, and
//     its Subject, as the filter reads it, starts with "[SPAM]".
// A message whose first line starts with a blank continues the line put above it
// (our Received field already), so it is left out of the idempotence checks.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "server/spam/subject.hpp"
#include "server/spam/tag.hpp"

using namespace shicks::spam;

namespace {

void require(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "spam_tag invariant violated: %s\n", what);
    std::abort();
  }
}

std::string filtered(std::string_view message, const std::string* keyword) {
  std::string out;
  append_filtered(out, message, keyword);
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  static const std::string keywords[] = {"viagra", "free money", "say \"hi\\\"",
                                         "\xD0\xBA\xD0\xB0\xD0\xB7\xD0\xB8\xD0\xBD\xD0\xBE"};  // казино
  const std::size_t pick = data[0] % 5;
  const std::string* keyword = pick < 4 ? &keywords[pick] : nullptr;
  const std::string_view message(reinterpret_cast<const char*>(data) + 1, size - 1);
  const bool continues_above = !message.empty() && (message.front() == ' ' || message.front() == '\t');

  const std::string clean = filtered(message, nullptr);
  require(clean.size() <= message.size(), "filtering alone only removes");
  if (!continues_above) require(filtered(clean, nullptr) == clean, "filtering is idempotent");
  if (!keyword) return 0;

  const std::string tagged = filtered(message, keyword);
  const std::string top = std::string(kSpamHeaderName) + ": " + spam_header_value(*keyword);
  require(tagged.compare(0, top.size(), top) == 0, "the X-Shicks-Spam line comes first");
  if (continues_above) return 0;
  require(filtered(tagged, keyword) == tagged, "tagging is idempotent");
  const auto subject = extract_subject(tagged);
  require(subject && has_subject_tag(*subject), "the tagged Subject starts with [SPAM]");
  return 0;
}
