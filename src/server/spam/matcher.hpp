#pragma once
// Spam keyword matching on a decoded Subject (see subject.hpp). Pure code.
//
// Folding (fold): both keywords and subjects are compared in a folded form:
//   - letters are case-folded with Unicode simple case folding (CaseFolding.txt, C+S)
//     for ASCII, Latin-1 Supplement, Latin Extended-A and -B, Latin Extended
//     Additional, Greek (final sigma and the symbol variants fold to the plain
//     letters), Cyrillic and Cyrillic Supplement, Armenian, and the Kelvin, Ohm and
//     Angstrom signs; U+0130 (I with dot) folds to "i";
//   - fullwidth ASCII forms (U+FF01-U+FF5E) fold to ASCII (spam uses them to evade),
//     except the fullwidth asterisk;
//   - invisible format characters (soft hyphen, zero-width space/joiners, word joiner,
//     BOM) are removed, so "vi<ZWSP>agra" reads "viagra" as it looks;
//   - every run of whitespace (and control characters) becomes one space; leading
//     and trailing whitespace is removed.
//
// Keywords:
//   - A keyword matches on word boundaries: an end of the keyword that is a word
//     character must not touch another word character in the subject ("sex" does not
//     hit "Essex" or "sexy", "viagra" hits "VIAGRA!!"). Word characters are letters,
//     digits and combining marks; everything else (whitespace, punctuation, symbols,
//     emoji, "_") separates words. Outside ASCII, Latin-1, Greek and Cyrillic this is
//     decided by block (punctuation and symbol blocks separate), not per character. Han, kana, Thai, Lao, Myanmar and Khmer characters are
//     words of their own (these scripts do not separate words by spaces), so a keyword
//     in them matches anywhere.
//   - A phrase ("free money") matches with any run of whitespace between its words.
//   - "*" is a wildcard for a run of zero or more word characters: it never crosses
//     whitespace or punctuation, so it stays inside one word. "v*agra" hits "viagra",
//     "v1agra" and "vagra", not "v agra". A "*" at the start or end of a keyword lets
//     that end match inside a longer word ("viag*" hits "viagra"). The "*"s inside a
//     keyword match at most kMaxWildcardChars characters together, which bounds the
//     work a subject can cause (each hit of a wildcard keyword's first part checks at
//     most that many characters beyond its fixed text). A "*" must touch a word character; "**" is one "*";
//     there is no way to match a literal "*".
//
// The Matcher is built once from the whole list and is immutable afterwards: share it
// between threads as std::shared_ptr<const Matcher>. Matching folds the subject and
// scans it once with an Aho-Corasick automaton over the folded UTF-8 bytes of each
// keyword's first literal part; only wildcard keywords need a short check after a hit.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace shicks::spam {

inline constexpr std::size_t kMaxKeywordBytes = 255;
inline constexpr std::size_t kMaxWildcardChars = 64;

char32_t fold_code_point(char32_t cp);
bool is_word_code_point(char32_t cp);
// Folds UTF-8 text (see above); invalid bytes become U+FFFD. Output is valid UTF-8.
std::string fold(std::string_view utf8);

// Why a keyword cannot be used (one line), or nullopt when it can: empty, longer than
// kMaxKeywordBytes, not UTF-8, only wildcards, or a "*" that touches no word character.
std::optional<std::string> keyword_error(std::string_view keyword);

struct Hit {
  std::size_t index;    // of the keyword in the list the Matcher was built from
  std::string keyword;  // as it was given
};

class Matcher {
 public:
  // Keywords for which keyword_error() reports a problem are left out (rejected()).
  explicit Matcher(const std::vector<std::string>& keywords);

  // The keyword found first scanning the subject from left to right (by the end of its
  // first literal part; at one position the longest part first, then list order).
  std::optional<Hit> match(std::string_view subject_utf8) const;

  std::size_t size() const { return patterns_.size(); }
  const std::vector<std::size_t>& rejected() const { return rejected_; }

 private:
  struct Pattern {
    std::size_t index;
    std::string keyword;
    std::uint32_t anchor_bytes;  // folded bytes of the first literal part (in the automaton)
    std::string rest;            // the folded keyword after the anchor; '*' is the wildcard
    std::vector<std::uint8_t> rest_literal_chars;  // literal characters in rest[0, j)
    bool left_boundary;
    bool right_boundary;
  };
  struct Node {
    std::uint32_t edges_begin = 0;
    std::uint32_t edges_end = 0;
    std::uint32_t fail = 0;
    std::uint32_t outputs_begin = 0;  // patterns whose anchor ends here
    std::uint32_t outputs_end = 0;
    std::uint32_t dict = 0;  // nearest node on the fail chain with outputs; 0: none
  };
  struct Edge {
    std::uint8_t byte;
    std::uint32_t target;
  };

  void build_automaton(const std::vector<std::string>& anchors);
  std::uint32_t step(std::uint32_t state, std::uint8_t byte) const;
  bool verify(const Pattern& p, std::string_view text, std::size_t anchor_end) const;
  bool verify_rest(const Pattern& p, std::string_view text, std::size_t pos) const;

  std::vector<Pattern> patterns_;
  std::vector<std::size_t> rejected_;
  std::vector<Node> nodes_;  // nodes_[0] is the root
  std::vector<Edge> edges_;
  std::vector<std::uint32_t> outputs_;  // pattern numbers, grouped by node
  std::vector<std::uint32_t> root_next_;  // 256 entries: the root's transitions, dense
};

// A keyword file (the default list, `shicksctl spam import`): one keyword per line;
// blank lines and lines whose first non-blank character is '#' are skipped; blanks
// around a keyword are removed (CRLF line ends are fine).
std::vector<std::string> keyword_lines(std::string_view text);

}  // namespace shicks::spam
