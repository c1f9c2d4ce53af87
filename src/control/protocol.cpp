#include "control/protocol.hpp"

#include <nlohmann/json.hpp>

namespace shicks::control {
using nlohmann::json;

namespace {
// Strict parse: no exceptions leak, NaN/duplicate handling left to nlohmann defaults.
std::optional<json> parse_object(std::string_view line, std::string& err) {
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.remove_suffix(1);
  json j = json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) {
    err = "malformed JSON";
    return std::nullopt;
  }
  if (!j.is_object()) {
    err = "a request must be a JSON object";
    return std::nullopt;
  }
  return j;
}

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }
}  // namespace

Expected<Request, std::string> decode_request(std::string_view line) {
  std::string err;
  auto j = parse_object(line, err);
  if (!j) return unexpected(err);
  Request r;
  if (auto it = j->find("v"); it != j->end()) {
    if (!it->is_number_integer()) return unexpected(std::string("\"v\" must be an integer"));
    if (it->get<std::int64_t>() != kProtocolVersion)
      return unexpected("unsupported protocol version " + std::to_string(it->get<std::int64_t>()) +
                        " (this daemon speaks " + std::to_string(kProtocolVersion) + ")");
  }
  if (auto it = j->find("id"); it != j->end()) {
    if (!it->is_number_integer()) return unexpected(std::string("\"id\" must be an integer"));
    r.id = it->get<std::int64_t>();
  }
  auto cmd = j->find("cmd");
  if (cmd == j->end() || !cmd->is_string() || cmd->get_ref<const std::string&>().empty())
    return unexpected(std::string("missing \"cmd\""));
  r.cmd = cmd->get<std::string>();
  if (auto it = j->find("args"); it != j->end() && !it->is_null()) {
    if (!it->is_object()) return unexpected(std::string("\"args\" must be an object"));
    r.args_json = dump(*it);
  }
  return r;
}

Expected<Response, std::string> decode_response(std::string_view line) {
  std::string err;
  auto j = parse_object(line, err);
  if (!j) return unexpected(err);
  Response r;
  if (auto it = j->find("id"); it != j->end() && it->is_number_integer()) r.id = it->get<std::int64_t>();
  auto ok = j->find("ok");
  if (ok == j->end() || !ok->is_boolean()) return unexpected(std::string("response without \"ok\""));
  r.ok = ok->get<bool>();
  if (r.ok) {
    if (auto it = j->find("result"); it != j->end()) r.result_json = dump(*it);
  } else {
    auto e = j->find("error");
    r.error = (e != j->end() && e->is_string()) ? e->get<std::string>() : "unspecified error";
  }
  return r;
}

std::string encode_request(const Request& r) {
  json j = {{"v", kProtocolVersion}, {"id", r.id}, {"cmd", r.cmd}};
  json args = json::parse(r.args_json, nullptr, false);
  j["args"] = args.is_discarded() ? json::object() : args;
  return dump(j) + "\n";
}

std::string encode_response(const Response& r) {
  json j = {{"v", kProtocolVersion}, {"id", r.id}, {"ok", r.ok}};
  if (r.ok) {
    json result = json::parse(r.result_json, nullptr, false);
    j["result"] = result.is_discarded() ? json(nullptr) : result;
  } else {
    j["error"] = r.error;
  }
  return dump(j) + "\n";
}

std::string encode_error(std::int64_t id, std::string_view error) {
  Response r;
  r.id = id;
  r.ok = false;
  r.error = std::string(error);
  return encode_response(r);
}

}  // namespace shicks::control
