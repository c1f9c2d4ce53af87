#pragma once
// An SMTP reply (RFC 5321 4.2) with its enhanced status code (RFC 2034/3463).
#include <string>
#include <vector>

namespace shicks::smtp {

struct Reply {
  int code = 0;            // 250, 550, ...
  std::string status;      // "2.1.0"; empty for the greeting and EHLO/HELO replies (RFC 2034 3)
  std::vector<std::string> lines;

  Reply() = default;
  Reply(int code, std::string status, std::string text) : code(code), status(std::move(status)), lines{std::move(text)} {}

  bool positive() const { return code >= 200 && code < 400; }
  bool transient() const { return code >= 400 && code < 500; }
  bool permanent() const { return code >= 500; }
  // "250-first\r\n250 last\r\n", the status code repeated on every line.
  std::string render() const;
};

}  // namespace shicks::smtp
