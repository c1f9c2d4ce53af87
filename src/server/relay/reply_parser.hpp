#pragma once
// Replies of an SMTP server as the relay client reads them (RFC 5321 4.2): one or
// more lines "CODE-text" ending with "CODE text" (or a bare "CODE"), all with the same
// code; the enhanced status code (RFC 2034/3463) starts the text when the server
// offers ENHANCEDSTATUSCODES. Pure code: bytes in, replies out.
//
// The parser is incremental: feed() consumes bytes up to the end of one reply and
// leaves the rest (pipelined replies, RFC 2920) for the next call, so a reply split
// anywhere -- even between CR and LF -- parses the same as when it arrives whole.
// Lines end with CRLF; a bare LF is accepted too (lenient, as Postfix is). Errors are
// fatal: a server that speaks something else is not an SMTP server.
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace shicks::relay {

struct ServerReply {
  int code = 0;                    // 220, 250, 354, 450, 550, ...
  std::string status;              // "5.1.1" when the first line carries one, else ""
  std::vector<std::string> lines;  // the text after "CODE-"/"CODE " of each line

  bool positive() const { return code >= 200 && code < 300; }
  bool intermediate() const { return code >= 300 && code < 400; }
  bool transient() const { return code >= 400 && code < 500; }
  bool permanent() const { return code >= 500; }
  // "550 5.1.1 <x@example.org>: unknown user" (lines joined with " / "), printable
  // ASCII only, at most `max` bytes: for logs, queue listings and DSNs.
  std::string summary(std::size_t max = 512) const;
};

class ReplyParser {
 public:
  struct Limits {
    std::size_t max_line = 4096;  // RFC 5321 4.5.3.1.5 says 512; servers exceed it
    std::size_t max_lines = 256;  // an EHLO answer has a few dozen at most
  };
  enum class State { need_more, reply, error };

  ReplyParser() = default;
  explicit ReplyParser(Limits limits) : limits_(limits) {}

  // Consumes bytes of `in` up to the end of the next reply; `consumed` says how many.
  // reply: take() it; need_more: all of `in` was consumed; error: see error().
  State feed(std::string_view in, std::size_t& consumed);
  ServerReply take();
  const std::string& error() const { return error_; }
  // Bytes of an unfinished reply are buffered (STARTTLS: none may be).
  bool idle() const { return line_.empty() && cur_.lines.empty(); }

 private:
  State fail(std::string why);
  bool finish_line();  // false on error; sets done_ when the reply is complete

  Limits limits_{};
  std::string line_;  // the current line without its line end
  ServerReply cur_;
  bool done_ = false;
  bool failed_ = false;
  std::string error_;
};

// Parses a whole text of one or more replies (tests, `relay test`): every reply,
// or the error.
struct ParsedReplies {
  std::vector<ServerReply> replies;
  std::string error;  // empty when the text parsed completely
  bool incomplete = false;
};
ParsedReplies parse_replies(std::string_view text, ReplyParser::Limits limits = {});

}  // namespace shicks::relay
