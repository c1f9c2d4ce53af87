#include "server/spam/tag.hpp"

#include <algorithm>
#include <vector>

#include "common/strings.hpp"
#include "server/spam/subject.hpp"

namespace shicks::spam {

std::string spam_header_value(std::string_view keyword) {
  std::string out = "yes; keyword=\"";
  for (char c : keyword) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') out += '\\';
    out += (u < 0x20 || u == 0x7F) ? ' ' : c;
  }
  out += '"';
  return out;
}

bool has_subject_tag(std::string_view decoded_subject) { return istarts_with_ascii(decoded_subject, kSubjectTag); }

std::string tagged_subject(std::string_view decoded_subject) {
  if (has_subject_tag(decoded_subject)) return std::string(decoded_subject);
  std::string out(kSubjectTag);
  if (!decoded_subject.empty()) out.append(" ").append(decoded_subject);
  return out;
}

namespace {

constexpr std::size_t npos = std::string_view::npos;

// Offset just after the colon when `line` is a field named `name` (ASCII case
// ignored; RFC 5322 4.5 allows blanks before the colon), else npos.
std::size_t value_start(std::string_view line, std::string_view name) {
  if (!istarts_with_ascii(line, name)) return npos;
  std::size_t i = name.size();
  while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
  return i < line.size() && line[i] == ':' ? i + 1 : npos;
}

bool blank_or_break(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

// Replace `drop` bytes at `at` with `insert`.
struct Edit {
  std::size_t at;
  std::size_t drop;
  std::string insert;
};

}  // namespace

void append_filtered(std::string& out, std::string_view message, const std::string* keyword) {
  std::vector<Edit> edits;
  std::size_t subject_begin = npos, subject_end = npos;  // the first Subject field's body
  bool in_subject = false, in_ours = false;
  std::string_view eol = "\r\n";
  for (std::size_t pos = 0; pos < message.size();) {
    const std::size_t nl = message.find('\n', pos);
    const std::size_t end = nl == npos ? message.size() : nl + 1;
    std::string_view content = message.substr(pos, (nl == npos ? end : nl) - pos);
    if (!content.empty() && content.back() == '\r') content.remove_suffix(1);
    if (pos == 0 && nl != npos && (nl == 0 || message[nl - 1] != '\r')) eol = "\n";
    if (content.empty()) break;  // the empty line that ends the header section
    // RFC 5322 2.2.3: a line that starts with WSP continues the field before it.
    if (content.front() != ' ' && content.front() != '\t') {
      in_subject = false;
      in_ours = value_start(content, kSpamHeaderName) != npos;
      if (!in_ours && subject_begin == npos) {
        if (std::size_t v = value_start(content, "Subject"); v != npos) {
          in_subject = true;
          subject_begin = pos + v;
        }
      }
    }
    if (in_subject) subject_end = pos + content.size();
    if (in_ours) {
      if (!edits.empty() && edits.back().at + edits.back().drop == pos) edits.back().drop += end - pos;
      else edits.push_back({pos, end - pos, {}});
    }
    pos = end;
  }

  if (keyword) {
    std::string top = std::string(kSpamHeaderName) + ": " + spam_header_value(*keyword) + std::string(eol);
    if (subject_begin == npos) {
      top += "Subject: " + std::string(kSubjectTag) + std::string(eol);
    } else {
      const std::string_view raw = message.substr(subject_begin, subject_end - subject_begin);
      if (!has_subject_tag(decode_subject(raw))) {
        std::size_t p = 0;
        while (p < raw.size() && blank_or_break(raw[p])) ++p;
        std::string tag = p == 0 ? " " : "";
        tag += kSubjectTag;
        if (p < raw.size()) tag += ' ';
        edits.push_back({subject_begin + p, 0, std::move(tag)});
      }
    }
    edits.push_back({0, 0, std::move(top)});
  }

  // At one offset, insertions come before a removal.
  std::stable_sort(edits.begin(), edits.end(), [](const Edit& a, const Edit& b) {
    return a.at != b.at ? a.at < b.at : (a.drop == 0 && b.drop != 0);
  });
  std::size_t extra = 0;
  for (const auto& e : edits) extra += e.insert.size();
  out.reserve(out.size() + message.size() + extra);
  std::size_t cursor = 0;
  for (const auto& e : edits) {
    out.append(message.substr(cursor, e.at - cursor));
    out += e.insert;
    cursor = e.at + e.drop;
  }
  out.append(message.substr(cursor));
}

}  // namespace shicks::spam
