// Fuzz target: the SMTP state machine fed arbitrary lines, with every side effect
// answered by choices taken from the input itself. Invariants: every reply has a
// code in 200..599 and renders as CRLF-terminated lines without stray CR/LF; once
// closed, nothing else is asked; DATA takes a bare LF for a line end only on
// submission, after AUTH, with smtp.submission_bare_lf = normalise.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "server/mail/line_reader.hpp"
#include "server/smtp/protocol.hpp"

using namespace shicks::smtp;
using namespace shicks::mail;

namespace {
void check(const Reply& r) {
  if (r.code < 200 || r.code > 599) std::abort();
  std::string s = r.render();
  if (s.size() < 5 || s.substr(s.size() - 2) != "\r\n") std::abort();
  for (std::size_t i = 0; i + 1 < s.size(); ++i) {
    if (s[i] == '\n' && s[i - 1] != '\r') std::abort();
    if (s[i] == '\r' && s[i + 1] != '\n') std::abort();
  }
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  Policy p;
  p.hostname = "mail.example.org";
  p.tls_available = size > 0 && (data[0] & 1);
  p.peer_loopback = size > 0 && (data[0] & 2);
  p.peer_trusted = size > 0 && (data[0] & 4);
  p.relay_configured = size > 0 && (data[0] & 8);
  p.listener = size > 0 && (data[0] & 16) ? Listener::submission : Listener::mx;
  p.submission_bare_lf_normalise = !(size > 0 && (data[0] & 32));
  p.max_recipients = 5;
  p.max_errors = 50;
  Protocol proto(p);
  check(proto.greeting());
  LineReader reader(1024);
  reader.feed(in);
  unsigned choice = 0;
  bool closed = false;
  while (auto line = reader.next()) {
    if (closed) break;
    Action a = line->too_long ? proto.on_line_too_long() : proto.on_line(line->text);
    for (int guard = 0; guard < 16; ++guard) {
      ++choice;
      switch (a.kind) {
        case Action::send:
        case Action::sasl_continue:
          check(a.reply);
          break;
        case Action::close:
          check(a.reply);
          closed = true;
          break;
        case Action::lookup_recipient: {
          RecipientLookup l;
          l.kind = RecipientLookup::Kind(choice % 5);
          if (l.kind == RecipientLookup::local) l.user_ids = {1, 2};
          a = proto.on_recipient(l);
          continue;
        }
        case Action::check_sender: a = proto.on_sender_checked(choice % 3 == 0, choice % 7 == 0); continue;
        case Action::authenticate:
          a = proto.on_auth_result(Protocol::AuthOutcome(choice % 4), a.credentials.username);
          continue;
        case Action::start_tls:
          check(a.reply);
          proto.on_tls_started();
          break;
        case Action::read_data: {
          check(a.reply);
          const bool may_normalise = p.listener != Listener::mx && !proto.authenticated_user().empty() &&
                                     p.submission_bare_lf_normalise;
          if (a.bare_lf == BareLf::normalise && !may_normalise) std::abort();
          if (a.bare_lf == BareLf::reject && may_normalise) std::abort();
          Protocol::DataOutcome d;
          d.bare_line_ending = choice % 6 == 1;
          d.too_big = choice % 6 == 2;
          d.nul = choice % 6 == 3;
          a = proto.on_data_end(d);
          continue;
        }
        case Action::deliver: {
          DeliveryResult r;
          r.kind = DeliveryResult::Kind(choice % 3);
          r.id = "X";
          a = proto.on_delivered(r);
          continue;
        }
      }
      break;
    }
  }
  return 0;
}
