#include "server/relay/reply_parser.hpp"

#include <fmt/core.h>

#include "common/strings.hpp"

namespace shicks::relay {

namespace {

// RFC 3463 2: class "." subject "." detail; class 2, 4 or 5 and equal to the reply's
// first digit (RFC 2034 4), subject and detail 1-3 digits.
std::string enhanced_status(int code, std::string_view text) {
  std::size_t i = 0;
  auto digits = [&](std::size_t min, std::size_t max) {
    std::size_t start = i;
    while (i < text.size() && is_ascii_digit(text[i]) && i - start < max) ++i;
    return i - start >= min && (i >= text.size() || !is_ascii_digit(text[i]));
  };
  if (text.empty() || text[0] != char('0' + code / 100) || (text[0] != '2' && text[0] != '4' && text[0] != '5'))
    return {};
  i = 1;
  if (i >= text.size() || text[i++] != '.') return {};
  if (!digits(1, 3)) return {};
  if (i >= text.size() || text[i++] != '.') return {};
  if (!digits(1, 3)) return {};
  if (i < text.size() && text[i] != ' ') return {};
  return std::string(text.substr(0, i));
}

void append_printable(std::string& out, std::string_view s) {
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    out.push_back(u < 0x20 || u >= 0x7f ? '?' : c);
  }
}

}  // namespace

std::string ServerReply::summary(std::size_t max) const {
  std::string out = std::to_string(code);
  for (std::size_t i = 0; i < lines.size(); ++i) {
    out += i == 0 ? " " : " / ";
    append_printable(out, lines[i]);
  }
  if (out.size() > max) {
    out.resize(max > 3 ? max - 3 : max);
    if (max > 3) out += "...";
  }
  return out;
}

ReplyParser::State ReplyParser::fail(std::string why) {
  failed_ = true;
  error_ = std::move(why);
  return State::error;
}

// RFC 5321 4.2: Reply-line = *( Reply-code "-" [ textstring ] CRLF )
//                            Reply-code [ SP textstring ] CRLF
bool ReplyParser::finish_line() {
  std::string_view l = line_;
  if (l.size() < 3 || !is_ascii_digit(l[0]) || !is_ascii_digit(l[1]) || !is_ascii_digit(l[2]) || l[0] < '2' ||
      l[0] > '5') {
    std::string excerpt;
    append_printable(excerpt, l.substr(0, 80));
    fail(fmt::format("malformed reply line \"{}\"", excerpt));
    return false;
  }
  int code = (l[0] - '0') * 100 + (l[1] - '0') * 10 + (l[2] - '0');
  bool last;
  if (l.size() == 3) last = true;
  else if (l[3] == ' ') last = true;
  else if (l[3] == '-') last = false;
  else {
    fail(fmt::format("malformed reply line (no space or hyphen after the code {})", code));
    return false;
  }
  if (!cur_.lines.empty() && code != cur_.code) {
    fail(fmt::format("reply code changes inside a multi-line reply ({} then {})", cur_.code, code));
    return false;
  }
  if (cur_.lines.size() >= limits_.max_lines) {
    fail(fmt::format("reply longer than {} lines", limits_.max_lines));
    return false;
  }
  cur_.code = code;
  cur_.lines.emplace_back(l.size() > 4 ? l.substr(4) : std::string_view());
  if (cur_.lines.size() == 1) cur_.status = enhanced_status(code, cur_.lines.front());
  line_.clear();
  done_ = last;
  return true;
}

ReplyParser::State ReplyParser::feed(std::string_view in, std::size_t& consumed) {
  consumed = 0;
  if (failed_) return State::error;
  if (done_) return State::reply;
  while (consumed < in.size()) {
    char c = in[consumed++];
    if (c == '\n') {
      if (!line_.empty() && line_.back() == '\r') line_.pop_back();
      if (!finish_line()) return State::error;
      if (done_) return State::reply;
      continue;
    }
    // The CR of a CRLF is kept until the LF arrives; a line may hold one more byte.
    if (line_.size() >= limits_.max_line + 1) return fail(fmt::format("reply line longer than {} bytes", limits_.max_line));
    line_.push_back(c);
  }
  return State::need_more;
}

ServerReply ReplyParser::take() {
  ServerReply r = std::move(cur_);
  cur_ = ServerReply{};
  done_ = false;
  return r;
}

ParsedReplies parse_replies(std::string_view text, ReplyParser::Limits limits) {
  ParsedReplies out;
  ReplyParser p(limits);
  while (!text.empty()) {
    std::size_t used = 0;
    auto st = p.feed(text, used);
    text.remove_prefix(used);
    if (st == ReplyParser::State::error) {
      out.error = p.error();
      return out;
    }
    if (st == ReplyParser::State::reply) out.replies.push_back(p.take());
  }
  out.incomplete = !p.idle();
  return out;
}

}  // namespace shicks::relay
