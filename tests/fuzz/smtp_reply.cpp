// Fuzz target for the relay client's reply parser and state machine.
//
// The input is what a (hostile) relay sends. It is parsed whole, byte at a time and
// split at a point derived from the data; all three must agree. Each reply is then
// fed to a relay client (PIPELINING or not, TLS and AUTH or not, picked by the first
// byte) that delivers two messages; it must never loop, never put the password in a
// label, and always give one result per recipient.
// Invariants (abort() on violation).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "server/relay/client.hpp"
#include "server/relay/reply_parser.hpp"

using namespace shicks::relay;

namespace {

void require(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "smtp_reply invariant violated: %s\n", what);
    std::abort();
  }
}

struct Parsed {
  std::vector<ServerReply> replies;
  bool error = false;
};

Parsed parse(const std::vector<std::string_view>& chunks) {
  ReplyParser::Limits lim;
  lim.max_line = 512;
  lim.max_lines = 32;
  ReplyParser p(lim);
  Parsed out;
  for (auto chunk : chunks) {
    while (!chunk.empty()) {
      std::size_t used = 0;
      auto st = p.feed(chunk, used);
      require(used <= chunk.size(), "consumed within the input");
      chunk.remove_prefix(used);
      if (st == ReplyParser::State::error) {
        require(!p.error().empty(), "an error has a message");
        out.error = true;
        return out;
      }
      if (st == ReplyParser::State::reply) {
        ServerReply r = p.take();
        require(r.code >= 200 && r.code <= 599, "code in range");
        require(!r.lines.empty() && r.lines.size() <= 32, "line count within limits");
        for (const auto& l : r.lines) require(l.size() <= 512, "line within limits");
        require(r.status.empty() || r.status[0] == char('0' + r.code / 100), "status class matches");
        std::string s = r.summary(200);
        require(s.size() <= 200, "summary bounded");
        for (unsigned char c : s) require(c >= 0x20 && c < 0x7f, "summary printable");
        out.replies.push_back(std::move(r));
      } else {
        require(chunk.empty(), "need_more consumes everything");
      }
    }
  }
  return out;
}

bool same(const Parsed& a, const Parsed& b) {
  if (a.error != b.error || a.replies.size() != b.replies.size()) return false;
  for (std::size_t i = 0; i < a.replies.size(); ++i)
    if (a.replies[i].code != b.replies[i].code || a.replies[i].status != b.replies[i].status ||
        a.replies[i].lines != b.replies[i].lines)
      return false;
  return true;
}

void drive(const std::vector<ServerReply>& replies, std::uint8_t mode) {
  ClientOptions o;
  o.helo_name = "mx.example.org";
  o.tls = mode & 1 ? TlsMode::starttls : (mode & 2 ? TlsMode::implicit : TlsMode::none);
  if (mode & 4) {
    o.username = "user";
    o.password = "pw-SECRET-pw";
  }
  Client c(o);
  std::vector<Envelope> messages = {{"a@example.org", {"x@far.example", "y@far.example"}, 100},
                                    {"", {"z@far.example"}, 5000}};
  std::size_t next = 0, msg = 0;
  Step s = c.start();
  for (int steps = 0;; ++steps) {
    require(steps < 10000, "the client makes progress");
    switch (s.kind) {
      case Step::send:
        require(s.label.find("SECRET") == std::string::npos, "no password in a label");
        [[fallthrough]];
      case Step::read:
      case Step::send_body:
        if (next >= replies.size()) {
          auto res = c.abort("eof");
          if (!res.empty()) require(res.size() == messages[msg - 1].recipients.size(), "a result per recipient");
          return;
        }
        s = c.on_reply(replies[next++]);
        break;
      case Step::start_tls:
        s = c.on_tls_ready();
        break;
      case Step::message_done: {
        auto res = c.take_results();
        require(res.size() == messages[msg - 1].recipients.size(), "a result per recipient");
        [[fallthrough]];
      }
      case Step::ready:
        if (msg < messages.size() && c.reusable()) s = c.begin(messages[msg++]);
        else s = c.quit();
        break;
      case Step::closed:
      case Step::failed:
        return;
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  const std::size_t cut = size == 0 ? 0 : (data[0] * 131u + data[size - 1]) % (size + 1);
  Parsed whole = parse({in});
  Parsed split = parse({in.substr(0, cut), in.substr(cut)});
  std::vector<std::string_view> bytes;
  for (std::size_t i = 0; i < size; ++i) bytes.push_back(in.substr(i, 1));
  Parsed one = parse(bytes);
  require(same(whole, split), "parse independent of the split");
  require(same(whole, one), "parse byte at a time");
  drive(whole.replies, size ? data[0] : 0);
  return 0;
}
