// Fuzz target for the control protocol's decoders (src/control/protocol.hpp): what
// the daemon reads from any local client that passed the peer check, and what
// shicksctl / shicks-top read back.
//
// The input is split at '\n' into lines (as the daemon frames them); each line is
// decoded as a request and as a response. Invariants (abort() on violation):
//   - decoding never throws, and a refusal has a reason;
//   - a decoded request has a command and an object of arguments;
//   - encoding a decoded request gives one line that decodes to the same request
//     (so the daemon can log and re-send what it accepted);
//   - likewise for responses, and an error response keeps its message.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "control/protocol.hpp"

using namespace shicks::control;

namespace {

void require(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "control_request invariant violated: %s\n", what);
    std::abort();
  }
}

bool one_line(const std::string& s) { return !s.empty() && s.back() == '\n' && s.find('\n') == s.size() - 1; }

void request(std::string_view line) {
  auto r = decode_request(line);
  if (!r) {
    require(!r.error().empty(), "a refused request has a reason");
    return;
  }
  require(!r->cmd.empty(), "a request has a command");
  require(!r->args_json.empty() && r->args_json.front() == '{' && r->args_json.back() == '}',
          "arguments are an object");
  const std::string again = encode_request(*r);
  require(one_line(again), "an encoded request is one line");
  auto back = decode_request(again);
  require(back.has_value(), "an encoded request decodes");
  require(back->id == r->id && back->cmd == r->cmd && back->args_json == r->args_json, "request round trip");
}

void response(std::string_view line) {
  auto r = decode_response(line);
  if (!r) {
    require(!r.error().empty(), "a refused response has a reason");
    return;
  }
  const std::string again = encode_response(*r);
  require(one_line(again), "an encoded response is one line");
  auto back = decode_response(again);
  require(back.has_value(), "an encoded response decodes");
  require(back->ok == r->ok && back->id == r->id, "response round trip");
  if (r->ok) require(back->result_json == r->result_json, "result round trip");
  else require(back->error == r->error, "error round trip");
  // An error built from any text is a valid response carrying that text
  // (invalid UTF-8 is replaced, so only the ASCII case is compared).
  auto err = decode_response(encode_error(r->id, line));
  require(err.has_value() && !err->ok, "encode_error makes an error response");
  bool ascii = true;
  for (unsigned char c : line) ascii = ascii && c < 0x80;
  if (ascii) require(err->error == line, "encode_error keeps the message");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  request(in);
  response(in);
  std::size_t start = 0;
  for (int lines = 0; lines < 16 && start <= in.size(); ++lines) {
    std::size_t nl = in.find('\n', start);
    std::string_view line = in.substr(start, nl == std::string_view::npos ? std::string_view::npos : nl - start + 1);
    request(line);
    response(line);
    if (nl == std::string_view::npos) break;
    start = nl + 1;
  }
  return 0;
}
