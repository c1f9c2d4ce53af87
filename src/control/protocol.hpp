#pragma once
// The control protocol: newline-delimited JSON over a unix stream socket.
//
//   request   {"v":1,"id":7,"cmd":"status","args":{...}}\n
//   response  {"v":1,"id":7,"ok":true,"result":{...}}\n
//             {"v":1,"id":7,"ok":false,"error":"one line a person can act on"}\n
//
// One request gives one response, in order. `watch` is the exception: its response
// is followed by {"v":1,"event":...} lines until the client closes.
// This header is free of nlohmann/json so that every program can include it cheaply;
// JSON values travel as their serialised text.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/expected.hpp"

namespace shicks::control {

inline constexpr int kProtocolVersion = 1;
inline constexpr std::size_t kDefaultMaxFrameBytes = 1 << 20;

struct Request {
  std::int64_t id = 0;
  std::string cmd;
  std::string args_json = "{}";  // always a JSON object
};

struct Response {
  std::int64_t id = 0;
  bool ok = false;
  std::string result_json = "null";  // when ok
  std::string error;                 // when !ok
};

// Decoding never throws: malformed input is an error string for the peer.
Expected<Request, std::string> decode_request(std::string_view line);
Expected<Response, std::string> decode_response(std::string_view line);
// Encoders end the line with '\n'.
std::string encode_request(const Request& r);
std::string encode_response(const Response& r);
std::string encode_error(std::int64_t id, std::string_view error);

}  // namespace shicks::control
