// Fuzz target for the spam filter's pure core: Subject extraction, RFC 2047
// decoding, case folding and keyword matching.
//
// The first byte picks the chunk size the header is fed in; the rest is a header
// section. Invariants (abort() on violation):
//   - the scanner finds the same Subject however the header is chunked;
//   - decoded subjects are valid UTF-8, of bounded size (a byte of some iconv charsets
//     is several characters, and base64 packs 3 bytes in 4), and the same whether
//     decoded from the header or from the raw field body;
//   - fold() gives valid UTF-8 and is idempotent;
//   - matching a subject and its folded form finds the same keyword of the fixed set;
//   - the input taken as a keyword is accepted or refused with a one-line reason; an
//     accepted keyword matches its own text with the wildcards removed.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "server/spam/matcher.hpp"
#include "server/spam/subject.hpp"
#include "server/spam/utf8.hpp"

using namespace shicks::spam;

namespace {

void require(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "spam_subject invariant violated: %s\n", what);
    std::abort();
  }
}

const Matcher& fixed_matcher() {
  static const Matcher matcher(std::vector<std::string>{
      "viagra", "v*agra", "cialis", "c*a*s", "free money", "make money fast", "sex", "casino", "100%", "$$$",
      "viag*", "*agra", "lottery winner", "\xD0\xB2\xD0\xB8\xD0\xB0\xD0\xB3\xD1\x80\xD0\xB0",  // виагра
      "\xD0\xBA\xD0\xB0\xD0\xB7\xD0\xB8\xD0\xBD\xD0\xBE",                                    // казино
      "\xCF\x86\xCE\xAC\xCF\x81\xCE\xBC\xCE\xB1\xCE\xBA\xCE\xB1",                            // φάρμακα
      "caf\xC3\xA9", "\xE7\x99\xBA\xE5\xA3\xB2", "a*b*c*d"});
  return matcher;
}

std::optional<std::string> scan(std::string_view header, std::size_t chunk) {
  SubjectScanner scanner;
  for (std::size_t i = 0; i < header.size(); i += chunk) scanner.feed(header.substr(i, chunk));
  scanner.finish();
  require(scanner.done(), "done after finish");
  if (scanner.raw_subject()) require(scanner.raw_subject()->size() <= kMaxRawSubjectBytes, "raw subject bounded");
  return scanner.raw_subject();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::size_t chunk = 1 + data[0] % 16;
  const std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);

  const auto raw = scan(input, input.size() + 1);
  require(scan(input, chunk) == raw, "chunking does not change the Subject");
  if (raw) {
    const auto subject = extract_subject(input);
    require(subject && *subject == decode_subject(*raw), "extract_subject = decode_subject(raw)");
  }

  // The whole input as a raw subject.
  const std::string decoded = decode_subject(input);
  require(is_valid_utf8(decoded), "decoded subject is valid UTF-8");
  require(decoded.size() <= 12 * input.size(), "decoded size bounded");

  const std::string folded = fold(decoded);
  require(is_valid_utf8(folded), "folded subject is valid UTF-8");
  require(fold(folded) == folded, "fold is idempotent");

  const auto hit = fixed_matcher().match(decoded);
  const auto hit_folded = fixed_matcher().match(folded);
  require(hit.has_value() == hit_folded.has_value(), "folded subject matches alike");
  if (hit) require(hit->index == hit_folded->index && !hit->keyword.empty(), "same keyword");

  // The input as a keyword.
  const auto error = keyword_error(input);
  if (error) {
    require(!error->empty() && error->find('\n') == std::string::npos, "one-line reason");
  } else {
    const Matcher own(std::vector<std::string>{std::string(input)});
    require(own.size() == 1 && own.rejected().empty(), "accepted keyword is used");
    std::string text(input);
    std::erase(text, '*');
    require(own.match(text).has_value(), "a keyword matches its own text");
  }
  return 0;
}
