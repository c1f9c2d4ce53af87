// Fuzz target: the POP3 state machine fed arbitrary lines, with every side effect
// answered by choices taken from the input itself, and every retrieved body (a slice
// of the input) dot-stuffed whole and byte at a time. Invariants: every reply is
// "+OK"/"-ERR" (or the SASL "+ ") in CRLF-terminated lines without stray CR/LF, a
// multi-line reply ends in ".\r\n"; actions only come in the states that allow them
// (no login without TLS unless allowed, no RETR of a deleted or missing message, the
// update deletes exactly the marked messages); once closed, nothing else is asked.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "server/mail/dot_stuffer.hpp"
#include "server/pop3/protocol.hpp"
#include "server/mail/line_reader.hpp"

using namespace shicks::pop3;

namespace {
void require(bool ok) {
  if (!ok) std::abort();
}

void check_reply(const std::string& r, bool sasl) {
  require(r.size() >= 4 && r.compare(r.size() - 2, 2, "\r\n") == 0);
  for (std::size_t i = 0; i < r.size(); ++i) {
    if (r[i] == '\n') require(i > 0 && r[i - 1] == '\r');
    if (r[i] == '\r') require(i + 1 < r.size() && r[i + 1] == '\n');
  }
  auto first_end = r.find("\r\n");
  std::string_view first(r.data(), first_end);
  if (sasl) {
    require(r == "+ \r\n");
    return;
  }
  require(first == "+OK" || first.substr(0, 4) == "+OK " || first == "-ERR" || first.substr(0, 5) == "-ERR ");
  if (first_end + 2 == r.size()) return;
  // Multi-line: only after +OK, no line inside starts with the terminator.
  require(first[0] == '+');
  require(r.size() >= 5 && r.compare(r.size() - 5, 5, "\r\n.\r\n") == 0);
  for (std::size_t pos = first_end + 2; pos < r.size() - 3;) {
    require(r[pos] != '.');
    pos = r.find("\r\n", pos) + 2;
  }
}

std::string stuff(std::string_view body, std::int64_t top, std::size_t chunk) {
  shicks::mail::DotStuffer s(top);
  std::string out;
  for (std::size_t i = 0; i < body.size() && !s.done(); i += chunk) s.feed(body.substr(i, chunk), out);
  s.finish(out);
  return out;
}

// The stuffed body must not depend on the chunking, must end in CRLF ".\r\n" with no
// earlier terminator line, and (for RETR) unstuff to the body plus a final CRLF.
void check_body(std::string_view body, std::int64_t top) {
  std::string whole = stuff(body, top, body.size() + 1);
  require(stuff(body, top, 1) == whole);
  require(stuff(body, top, 3) == whole);
  require(whole.size() >= 3 && whole.compare(whole.size() - 3, 3, ".\r\n") == 0);
  std::string back;
  std::size_t pos = 0;
  for (;;) {
    auto nl = whole.find('\n', pos);
    require(nl != std::string::npos);
    std::string_view line(whole.data() + pos, nl + 1 - pos);
    if (line == ".\r\n") {
      require(nl + 1 == whole.size());
      break;
    }
    if (line[0] == '.') line.remove_prefix(1);
    back += line;
    pos = nl + 1;
  }
  if (top >= 0) return;
  std::string expect(body);
  if (!expect.empty() && expect.back() != '\n') expect += "\r\n";
  require(back == expect);
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  std::uint8_t flags = size > 0 ? data[0] : 0;
  Policy policy;
  policy.hostname = "mail.example.org";
  policy.implicit_tls = flags & 1;
  policy.tls_available = flags & 2;
  policy.peer_loopback = flags & 4;
  policy.plaintext_auth_on_loopback = flags & 8;
  policy.max_errors = 1 + (flags >> 4) * 4;
  Protocol proto(policy);
  check_reply(proto.greeting(), false);

  shicks::mail::LineReader reader(512);
  reader.feed(in);
  std::uint32_t choice = 0;
  bool closed = false;
  while (auto line = reader.next()) {
    require(!closed);
    for (char c : line->text) choice = choice * 31 + static_cast<unsigned char>(c);
    ++choice;
    Action a = line->too_long ? proto.on_line_too_long() : proto.on_line(line->text);
    for (int guard = 0;; ++guard) {
      require(guard < 8);
      choice = choice * 1103515245u + 12345u;
      unsigned pick = choice >> 16;
      bool tls_now = proto.tls_active();
      bool plaintext_ok = tls_now || (policy.peer_loopback && policy.plaintext_auth_on_loopback);
      if (a.kind == Action::send || a.kind == Action::close || a.kind == Action::start_tls ||
          a.kind == Action::retrieve)
        check_reply(a.reply, a.kind == Action::send && proto.awaiting_sasl_response());
      switch (a.kind) {
        case Action::send:
          require(proto.state() != Protocol::State::closed);
          break;
        case Action::close:
          require(proto.state() == Protocol::State::closed);
          closed = true;
          break;
        case Action::authenticate:
          require(proto.state() == Protocol::State::authorization && plaintext_ok);
          a = proto.on_auth_result(Protocol::AuthOutcome(pick % 4));
          continue;
        case Action::load_maildrop: {
          require(proto.state() == Protocol::State::authorization);
          Protocol::MaildropLoad load;
          load.kind = Protocol::MaildropLoad::Kind(pick % 5 < 3 ? 0 : pick % 5 - 2);
          unsigned n = (pick >> 3) % 6;
          for (unsigned i = 0; i < n; ++i)
            load.messages.push_back({1000 + i, (pick >> 5) % 97 + i, "u" + std::to_string(i)});
          if (n > 1 && pick % 11 == 0) load.messages[1].uidl = "u0";  // a duplicate: SYS/PERM
          a = proto.on_maildrop_loaded(load);
          if (load.kind != Protocol::MaildropLoad::ok || (n > 1 && pick % 11 == 0)) require(!proto.in_transaction());
          continue;
        }
        case Action::start_tls:
          require(!tls_now && policy.tls_available && proto.state() == Protocol::State::authorization);
          proto.on_tls_started();
          require(proto.tls_active() && proto.user().empty());
          break;
        case Action::retrieve: {
          require(proto.in_transaction());
          require(a.message < proto.snapshot().size() && !proto.marked_deleted(a.message));
          require(a.message_id == proto.snapshot()[a.message].id && a.top_lines >= -1);
          if (pick % 7 == 0) {
            a = proto.on_retrieve_failed();
            continue;
          }
          check_body(in.substr(pick % (size + 1)), a.top_lines >= 0 ? a.top_lines % 5 : -1);
          break;
        }
        case Action::update: {
          require(proto.state() == Protocol::State::update);
          std::vector<std::uint64_t> marked;
          for (std::size_t i = 0; i < proto.snapshot().size(); ++i)
            if (proto.marked_deleted(i)) marked.push_back(proto.snapshot()[i].id);
          require(marked == a.deleted_ids);
          a = proto.on_update_done(pick % 3 != 0);
          continue;
        }
      }
      break;
    }
    require(proto.errors() <= policy.max_errors);
    std::uint64_t live = 0;
    for (std::size_t i = 0; i < proto.snapshot().size(); ++i) live += proto.marked_deleted(i) ? 0 : 1;
    require(live == proto.live_count());
    if (closed) break;
  }
  return 0;
}
