#include "server/spam/matcher.hpp"

#include <algorithm>
#include <array>
#include <bitset>
#include <deque>
#include <utility>

#include "common/expected.hpp"
#include "common/strings.hpp"
#include "server/spam/utf8.hpp"

namespace shicks::spam {

// ---------------------------------------------------------------- folding

namespace {

// Unicode simple case folding (CaseFolding.txt of Unicode 14, status C and S) for the
// blocks named in matcher.hpp, as ranges: every code point in [first, last] maps to
// cp + delta, or with `pairs` only first, first + 2, ..., last (the capital at even
// offsets, its small letter right after it). Sorted by first, not overlapping.
struct FoldRange {
  char32_t first;
  char32_t last;
  std::int32_t delta;
  bool pairs;
};

constexpr FoldRange kFoldRanges[] = {
    // ASCII
    {0x0041, 0x005A, 32, false},
    // Latin-1 Supplement, Latin Extended-A, Latin Extended-B
    {0x00B5, 0x00B5, 775, false},  // micro sign -> Greek mu
    {0x00C0, 0x00D6, 32, false},
    {0x00D8, 0x00DE, 32, false},
    {0x0100, 0x012E, 1, true},
    {0x0130, 0x0130, -199, false},  // I with dot above -> "i" (not in simple folding)
    {0x0132, 0x0136, 1, true},
    {0x0139, 0x0147, 1, true},
    {0x014A, 0x0176, 1, true},
    {0x0178, 0x0178, -121, false},
    {0x0179, 0x017D, 1, true},
    {0x017F, 0x017F, -268, false},  // long s -> s
    {0x0181, 0x0181, 210, false},
    {0x0182, 0x0184, 1, true},
    {0x0186, 0x0186, 206, false},
    {0x0187, 0x0187, 1, false},
    {0x0189, 0x018A, 205, false},
    {0x018B, 0x018B, 1, false},
    {0x018E, 0x018E, 79, false},
    {0x018F, 0x018F, 202, false},
    {0x0190, 0x0190, 203, false},
    {0x0191, 0x0191, 1, false},
    {0x0193, 0x0193, 205, false},
    {0x0194, 0x0194, 207, false},
    {0x0196, 0x0196, 211, false},
    {0x0197, 0x0197, 209, false},
    {0x0198, 0x0198, 1, false},
    {0x019C, 0x019C, 211, false},
    {0x019D, 0x019D, 213, false},
    {0x019F, 0x019F, 214, false},
    {0x01A0, 0x01A4, 1, true},
    {0x01A6, 0x01A6, 218, false},
    {0x01A7, 0x01A7, 1, false},
    {0x01A9, 0x01A9, 218, false},
    {0x01AC, 0x01AC, 1, false},
    {0x01AE, 0x01AE, 218, false},
    {0x01AF, 0x01AF, 1, false},
    {0x01B1, 0x01B2, 217, false},
    {0x01B3, 0x01B5, 1, true},
    {0x01B7, 0x01B7, 219, false},
    {0x01B8, 0x01B8, 1, false},
    {0x01BC, 0x01BC, 1, false},
    {0x01C4, 0x01C4, 2, false},
    {0x01C5, 0x01C5, 1, false},
    {0x01C7, 0x01C7, 2, false},
    {0x01C8, 0x01C8, 1, false},
    {0x01CA, 0x01CA, 2, false},
    {0x01CB, 0x01DB, 1, true},
    {0x01DE, 0x01EE, 1, true},
    {0x01F1, 0x01F1, 2, false},
    {0x01F2, 0x01F4, 1, true},
    {0x01F6, 0x01F6, -97, false},
    {0x01F7, 0x01F7, -56, false},
    {0x01F8, 0x021E, 1, true},
    {0x0220, 0x0220, -130, false},
    {0x0222, 0x0232, 1, true},
    {0x023A, 0x023A, 10795, false},
    {0x023B, 0x023B, 1, false},
    {0x023D, 0x023D, -163, false},
    {0x023E, 0x023E, 10792, false},
    {0x0241, 0x0241, 1, false},
    {0x0243, 0x0243, -195, false},
    {0x0244, 0x0244, 69, false},
    {0x0245, 0x0245, 71, false},
    {0x0246, 0x024E, 1, true},
    // Greek (final sigma and the symbol forms fold to the letters)
    {0x0370, 0x0372, 1, true},
    {0x0376, 0x0376, 1, false},
    {0x037F, 0x037F, 116, false},
    {0x0386, 0x0386, 38, false},
    {0x0388, 0x038A, 37, false},
    {0x038C, 0x038C, 64, false},
    {0x038E, 0x038F, 63, false},
    {0x0391, 0x03A1, 32, false},
    {0x03A3, 0x03AB, 32, false},
    {0x03C2, 0x03C2, 1, false},
    {0x03CF, 0x03CF, 8, false},
    {0x03D0, 0x03D0, -30, false},
    {0x03D1, 0x03D1, -25, false},
    {0x03D5, 0x03D5, -15, false},
    {0x03D6, 0x03D6, -22, false},
    {0x03D8, 0x03EE, 1, true},
    {0x03F0, 0x03F0, -54, false},
    {0x03F1, 0x03F1, -48, false},
    {0x03F4, 0x03F4, -60, false},
    {0x03F5, 0x03F5, -64, false},
    {0x03F7, 0x03F7, 1, false},
    {0x03F9, 0x03F9, -7, false},
    {0x03FA, 0x03FA, 1, false},
    {0x03FD, 0x03FF, -130, false},
    // Cyrillic, Cyrillic Supplement
    {0x0400, 0x040F, 80, false},
    {0x0410, 0x042F, 32, false},
    {0x0460, 0x0480, 1, true},
    {0x048A, 0x04BE, 1, true},
    {0x04C0, 0x04C0, 15, false},
    {0x04C1, 0x04CD, 1, true},
    {0x04D0, 0x052E, 1, true},
    // Armenian
    {0x0531, 0x0556, 48, false},
    // Latin Extended Additional
    {0x1E00, 0x1E94, 1, true},
    {0x1E9B, 0x1E9B, -58, false},
    {0x1E9E, 0x1E9E, -7615, false},  // capital sharp s -> sharp s (simple folding)
    {0x1EA0, 0x1EFE, 1, true},
    // Ohm, Kelvin and Angstrom signs
    {0x2126, 0x2126, -7517, false},
    {0x212A, 0x212A, -8383, false},
    {0x212B, 0x212B, -8262, false},
    // Fullwidth ASCII -> ASCII, capitals to lower case (not case folding: spam uses
    // them); not the fullwidth asterisk, so only "*" itself is a wildcard in a keyword.
    {0xFF01, 0xFF09, -0xFEE0, false},
    {0xFF0B, 0xFF20, -0xFEE0, false},
    {0xFF21, 0xFF3A, -0xFEE0 + 32, false},
    {0xFF3B, 0xFF5E, -0xFEE0, false},
};

constexpr bool sorted_and_disjoint() {
  for (std::size_t i = 0; i < std::size(kFoldRanges); ++i) {
    if (kFoldRanges[i].first > kFoldRanges[i].last) return false;
    if (i > 0 && kFoldRanges[i - 1].last >= kFoldRanges[i].first) return false;
  }
  return true;
}
static_assert(sorted_and_disjoint(), "fold_code_point() binary-searches kFoldRanges");

// Removed by fold(): they show nothing and only split words.
constexpr bool is_invisible(char32_t cp) {
  return cp == 0x00AD || (cp >= 0x200B && cp <= 0x200D) || cp == 0x2060 || cp == 0xFEFF;
}

// Whitespace and control characters: a run of them folds to one space.
constexpr bool is_space(char32_t cp) {
  return cp <= 0x20 || (cp >= 0x7F && cp <= 0xA0) || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) ||
         cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

// The code point before byte `pos` of valid UTF-8 text.
char32_t code_point_before(std::string_view text, std::size_t pos) {
  std::size_t start = pos - 1;
  while (start > 0 && (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80) --start;
  std::size_t len = 0;
  return decode_utf8(text, start, len);
}

bool word_before(std::string_view text, std::size_t pos) {
  return pos > 0 && is_word_code_point(code_point_before(text, pos));
}

bool word_at(std::string_view text, std::size_t pos) {
  std::size_t len = 0;
  return pos < text.size() && is_word_code_point(decode_utf8(text, pos, len));
}

}  // namespace

char32_t fold_code_point(char32_t cp) {
  if (cp < 0x80) return (cp >= 'A' && cp <= 'Z') ? cp + 32 : cp;
  const auto* end = std::end(kFoldRanges);
  const auto* r = std::upper_bound(std::begin(kFoldRanges), end, cp,
                                   [](char32_t c, const FoldRange& range) { return c < range.first; });
  if (r == std::begin(kFoldRanges)) return cp;
  --r;
  if (cp > r->last || (r->pairs && (cp - r->first) % 2 != 0)) return cp;
  return static_cast<char32_t>(static_cast<std::int32_t>(cp) + r->delta);
}

bool is_word_code_point(char32_t cp) {
  if (cp < 0x80) return (cp >= '0' && cp <= '9') || (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z');
  if (cp < 0xC0) return cp == 0xAA || cp == 0xB5 || cp == 0xBA;  // feminine/masculine ordinal, micro
  if (cp == 0xD7 || cp == 0xF7) return false;                     // multiplication, division signs
  if (cp < 0x370) return true;  // Latin letters, IPA, modifier letters, combining marks
  if (cp < 0x530)               // Greek and Cyrillic, less their punctuation and signs
    return cp != 0x375 && cp != 0x37E && cp != 0x384 && cp != 0x385 && cp != 0x387 && cp != 0x3F6 && cp != 0x482;
  // Scripts written without spaces between words: each character is a word of its own.
  if ((cp >= 0x0E00 && cp <= 0x0EFF) || (cp >= 0x1000 && cp <= 0x109F) || (cp >= 0x1780 && cp <= 0x17FF) ||
      (cp >= 0x3040 && cp <= 0x30FF) || (cp >= 0x3400 && cp <= 0x4DBF) || (cp >= 0x4E00 && cp <= 0x9FFF) ||
      (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x20000 && cp <= 0x3FFFF))
    return false;
  // Punctuation, symbols and spaces: General Punctuation up to Miscellaneous Symbols
  // and Arrows, CJK punctuation, private use, halfwidth/fullwidth punctuation,
  // specials (U+FFFD), and the emoji and symbol blocks of plane 1.
  if ((cp >= 0x2000 && cp <= 0x2BFF) || (cp >= 0x3000 && cp <= 0x303F) || (cp >= 0xE000 && cp <= 0xF8FF) ||
      (cp >= 0xFE10 && cp <= 0xFE6F) || (cp >= 0xFF00 && cp <= 0xFF0F) || (cp >= 0xFF1A && cp <= 0xFF20) ||
      (cp >= 0xFF3B && cp <= 0xFF40) || (cp >= 0xFF5B && cp <= 0xFF65) || (cp >= 0xFFF0 && cp <= 0xFFFF) ||
      (cp >= 0x1F000 && cp <= 0x1FAFF))
    return false;
  return true;
}

std::string fold(std::string_view utf8) {
  std::string out;
  out.reserve(utf8.size());
  bool space = false;
  for (std::size_t i = 0, len = 0; i < utf8.size(); i += len) {
    const char c = utf8[i];
    if (c > ' ' && c < 0x7F) {  // printable ASCII, the common case
      if (space) out += ' ';
      space = false;
      out += ascii_lower(c);
      len = 1;
      continue;
    }
    char32_t cp = decode_utf8(utf8, i, len);
    if (cp == kInvalidCodePoint) cp = kReplacementChar;
    if (is_space(cp)) {
      space = !out.empty();
      continue;
    }
    if (is_invisible(cp)) continue;
    if (space) out += ' ';
    space = false;
    append_utf8(out, fold_code_point(cp));
  }
  return out;
}

// ---------------------------------------------------------------- keywords

namespace {

// A keyword folded, "**" collapsed, checked; the parts Matcher needs.
struct Compiled {
  std::string anchor;  // the first literal part
  std::string rest;    // after it, starting with '*' (empty without inner wildcards)
  bool left_boundary;
  bool right_boundary;
};

Expected<Compiled, std::string> compile_keyword(std::string_view keyword) {
  if (keyword.size() > kMaxKeywordBytes) return unexpected(std::string("keyword longer than 255 bytes"));
  if (!is_valid_utf8(keyword)) return unexpected(std::string("keyword is not valid UTF-8"));
  std::string folded;
  for (char c : fold(keyword))
    if (c != '*' || folded.empty() || folded.back() != '*') folded += c;
  if (folded.empty()) return unexpected(std::string("empty keyword"));
  if (folded.find_first_not_of("* ") == std::string::npos)
    return unexpected(std::string("a keyword of only \"*\" would match everything"));

  // Each '*' must touch a word character: it stands for the rest of a word.
  for (std::size_t i = folded.find('*'); i != std::string::npos; i = folded.find('*', i + 1)) {
    const bool word_left = word_before(folded, i);
    const bool word_right = word_at(folded, i + 1);
    if (!word_left && !word_right) return unexpected(std::string("a \"*\" must be attached to a word, e.g. v*agra"));
  }

  Compiled c;
  c.left_boundary = folded.front() != '*' && word_at(folded, 0);
  c.right_boundary = folded.back() != '*' && word_before(folded, folded.size());
  // A leading or trailing '*' matches whatever word characters are there: it only
  // lifts the boundary check on its side.
  std::string_view body = folded;
  if (body.front() == '*') body.remove_prefix(1);
  if (body.back() == '*') body.remove_suffix(1);
  const std::size_t star = body.find('*');
  c.anchor = std::string(body.substr(0, star));
  if (star != std::string_view::npos) c.rest = std::string(body.substr(star));
  return c;
}

}  // namespace

std::optional<std::string> keyword_error(std::string_view keyword) {
  auto compiled = compile_keyword(keyword);
  if (compiled) return std::nullopt;
  return compiled.error();
}

// ---------------------------------------------------------------- the matcher

Matcher::Matcher(const std::vector<std::string>& keywords) {
  std::vector<std::string> anchors;
  for (std::size_t i = 0; i < keywords.size(); ++i) {
    auto compiled = compile_keyword(keywords[i]);
    if (!compiled) {
      rejected_.push_back(i);
      continue;
    }
    Pattern p{i, keywords[i], static_cast<std::uint32_t>(compiled->anchor.size()), compiled->rest, {},
              compiled->left_boundary, compiled->right_boundary};
    std::uint8_t literal = 0;
    for (std::size_t j = 0; j < p.rest.size(); ++j) {
      p.rest_literal_chars.push_back(literal);
      const unsigned char b = static_cast<unsigned char>(p.rest[j]);
      if (b != '*' && (b & 0xC0) != 0x80) ++literal;  // '*' and continuation bytes start no character
    }
    p.rest_literal_chars.push_back(literal);
    patterns_.push_back(std::move(p));
    anchors.push_back(std::move(compiled->anchor));
  }
  build_automaton(anchors);
}

// Aho-Corasick (Aho, Corasick 1975): a trie of the anchors, failure links by breadth-
// first search, and for every node the nearest node on its failure chain that ends an
// anchor ("dict"), so all anchors ending at a position are listed without walking
// nodes that end none.
void Matcher::build_automaton(const std::vector<std::string>& anchors) {
  struct TrieNode {
    std::vector<std::pair<std::uint8_t, std::uint32_t>> children;  // sorted by byte
    std::vector<std::uint32_t> patterns;
  };
  std::vector<TrieNode> trie(1);
  const auto slot = [](auto& children, std::uint8_t byte) {
    return std::lower_bound(children.begin(), children.end(), byte,
                            [](const auto& e, std::uint8_t b) { return e.first < b; });
  };
  const auto child = [&](std::uint32_t node, std::uint8_t byte) -> std::uint32_t {
    auto& ch = trie[node].children;
    auto it = slot(ch, byte);
    return it != ch.end() && it->first == byte ? it->second : 0;
  };
  for (std::uint32_t p = 0; p < anchors.size(); ++p) {
    std::uint32_t node = 0;
    for (char c : anchors[p]) {
      const auto byte = static_cast<std::uint8_t>(c);
      std::uint32_t next = child(node, byte);
      if (next == 0) {
        next = static_cast<std::uint32_t>(trie.size());
        auto& ch = trie[node].children;
        ch.insert(slot(ch, byte), {byte, next});
        trie.emplace_back();  // invalidates `ch`, not needed after this
      }
      node = next;
    }
    trie[node].patterns.push_back(p);
  }

  nodes_.assign(trie.size(), Node{});
  std::deque<std::uint32_t> queue;
  for (const auto& [byte, v] : trie[0].children) queue.push_back(v);  // depth 1 fails to the root
  while (!queue.empty()) {
    const std::uint32_t u = queue.front();
    queue.pop_front();
    const std::uint32_t f = nodes_[u].fail;
    nodes_[u].dict = trie[f].patterns.empty() ? nodes_[f].dict : f;
    for (const auto& [byte, v] : trie[u].children) {
      std::uint32_t g = f;
      while (g != 0 && child(g, byte) == 0) g = nodes_[g].fail;
      nodes_[v].fail = child(g, byte);
      queue.push_back(v);
    }
  }

  for (std::uint32_t n = 0; n < trie.size(); ++n) {
    nodes_[n].edges_begin = static_cast<std::uint32_t>(edges_.size());
    for (const auto& [byte, v] : trie[n].children) edges_.push_back({byte, v});
    nodes_[n].edges_end = static_cast<std::uint32_t>(edges_.size());
    nodes_[n].outputs_begin = static_cast<std::uint32_t>(outputs_.size());
    outputs_.insert(outputs_.end(), trie[n].patterns.begin(), trie[n].patterns.end());
    nodes_[n].outputs_end = static_cast<std::uint32_t>(outputs_.size());
  }
  root_next_.assign(256, 0);
  for (const auto& [byte, v] : trie[0].children) root_next_[byte] = v;
}

std::uint32_t Matcher::step(std::uint32_t state, std::uint8_t byte) const {
  while (state != 0) {
    const Node& n = nodes_[state];
    const auto* first = edges_.data() + n.edges_begin;
    const auto* last = edges_.data() + n.edges_end;
    const auto* e = std::lower_bound(first, last, byte, [](const Edge& edge, std::uint8_t b) { return edge.byte < b; });
    if (e != last && e->byte == byte) return e->target;
    state = n.fail;
  }
  return root_next_[byte];
}

std::optional<Hit> Matcher::match(std::string_view subject_utf8) const {
  const std::string text = fold(subject_utf8);
  std::uint32_t state = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    state = step(state, static_cast<std::uint8_t>(text[i]));
    const Node& here = nodes_[state];
    for (std::uint32_t n = here.outputs_begin != here.outputs_end ? state : here.dict; n != 0; n = nodes_[n].dict) {
      for (std::uint32_t o = nodes_[n].outputs_begin; o < nodes_[n].outputs_end; ++o) {
        const Pattern& p = patterns_[outputs_[o]];
        if (verify(p, text, i + 1)) return Hit{p.index, p.keyword};
      }
    }
  }
  return std::nullopt;
}

bool Matcher::verify(const Pattern& p, std::string_view text, std::size_t anchor_end) const {
  const std::size_t start = anchor_end - p.anchor_bytes;
  if (p.left_boundary && word_before(text, start)) return false;
  if (p.rest.empty()) return !(p.right_boundary && word_at(text, anchor_end));
  return verify_rest(p, text, anchor_end);
}

// The rest of a wildcard keyword ("*agra", "*ag*a") from `pos` on, by simulating its
// NFA over the text's code points. State j is "rest[0, j) matched"; at a '*' the
// state may stay (consuming a word character) or move on without consuming. The
// wildcards' budget bounds the steps: at state j the wildcards have consumed
// (characters read - literal characters in rest[0, j)).
bool Matcher::verify_rest(const Pattern& p, std::string_view text, std::size_t pos) const {
  const std::string& rest = p.rest;
  const std::size_t accept = rest.size();
  // At most one entry per state, so no allocation: rest.size() <= kMaxKeywordBytes.
  struct StateSet {
    std::array<std::uint16_t, kMaxKeywordBytes + 1> states;
    std::size_t size = 0;
  };
  StateSet sets[2];
  StateSet* current = &sets[0];
  StateSet* next = &sets[1];
  std::bitset<kMaxKeywordBytes + 1> seen;
  const auto add = [&](StateSet& set, std::size_t j) {
    if (seen[j]) return;
    seen[j] = true;
    set.states[set.size++] = static_cast<std::uint16_t>(j);
    if (j < accept && rest[j] == '*' && !seen[j + 1]) {  // the wildcard may match nothing (more)
      seen[j + 1] = true;
      set.states[set.size++] = static_cast<std::uint16_t>(j + 1);
    }
  };
  add(*current, 0);
  for (std::size_t chars_read = 0;; ++chars_read) {
    if (seen[accept] && !(p.right_boundary && word_at(text, pos))) return true;
    if (current->size == 0 || pos >= text.size()) return false;
    std::size_t len = 0;
    const char32_t cp = decode_utf8(text, pos, len);
    const std::string_view ch = text.substr(pos, len);
    for (std::size_t k = 0; k < current->size; ++k) seen[current->states[k]] = false;  // now: the next states
    next->size = 0;
    const bool word = is_word_code_point(cp);
    for (std::size_t k = 0; k < current->size; ++k) {
      const std::size_t j = current->states[k];
      if (j == accept) continue;
      if (rest[j] == '*') {
        if (word && chars_read + 1 - p.rest_literal_chars[j] <= kMaxWildcardChars) add(*next, j);
      } else if (rest[j] == ch[0] && (len == 1 || rest.compare(j, len, ch) == 0)) {
        add(*next, j + len);
      }
    }
    std::swap(current, next);
    pos += len;
  }
}

std::vector<std::string> keyword_lines(std::string_view text) {
  std::vector<std::string> out;
  for (std::string_view line : split(text, '\n')) {
    line = trim(line);
    if (line.empty() || line.front() == '#') continue;
    out.emplace_back(line);
  }
  return out;
}

}  // namespace shicks::spam
