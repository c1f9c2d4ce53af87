// The schema of shicks.toml is the one list of its keys: flatten() (what SIGHUP
// compares) shows each of them, a change of any of them shows as a change, and
// man/shicks.toml.5 documents each with its type.
#include <catch2/catch.hpp>

#include <cinttypes>
#include <cstdio>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>

#include "server/config/config.hpp"

using namespace shicks;

namespace {

// A value for `key` other than `before` (what it shows without it), as TOML text and
// as flatten() should show it.
struct Sample {
  std::string toml;
  std::string shown;
};

Sample sample_for(const config::KeyInfo& key, const std::string& before) {
  if (key.name == "database.mode") return {"\"managed\"", "managed"};  // the base config is external
  if (key.type == "string") return {"\"debug\"", key.secret ? "(set)" : "debug"};
  if (key.type == "path") return {"\"/elsewhere/file\"", "/elsewhere/file"};
  if (key.type == "boolean") return before == "true" ? Sample{"false", "false"} : Sample{"true", "true"};
  if (key.type == "list of addresses") return {"[\"127.0.0.1:9\"]", "127.0.0.1:9"};
  if (key.type == "list of networks") return {"[\"10.0.0.0/8\"]", "10.0.0.0/8"};
  std::uint64_t min = 0, max = 0;
  if (std::sscanf(key.type.c_str(), "integer, %" SCNu64 " to %" SCNu64, &min, &max) == 2) {
    std::string n = std::to_string(min) != before ? std::to_string(min) : std::to_string(max);
    return {n, n};
  }
  FAIL("the test has no sample value for a key of type \"" << key.type << "\" (" << key.name << ")");
  return {};
}

// The keys only a managed database takes (refused in external mode).
const std::set<std::string> kManagedOnly = {"database.managed_memory_mb", "database.buffer_pool_bytes",
                                            "database.mariadbd", "database.install_db",
                                            "database.start_timeout_seconds"};

// An external-database config (so that the external database keys may be set; a
// managed one for the managed-only keys), with `name` ("section.key") set to `value`
// when given.
std::string config_text(const std::string& name = "", const std::string& value = "", bool managed = false) {
  std::map<std::string, std::map<std::string, std::string>> sections;
  sections["database"]["mode"] = managed || kManagedOnly.count(name) ? "\"managed\"" : "\"external\"";
  if (!name.empty()) {
    auto dot = name.find('.');
    sections[name.substr(0, dot)][name.substr(dot + 1)] = value;
  }
  std::string out;
  for (const auto& [section, keys] : sections) {
    out += "[" + section + "]\n";
    for (const auto& [k, v] : keys) out += k + " = " + v + "\n";
  }
  return out;
}

std::map<std::string, std::string> flattened(const std::string& text) {
  auto c = config::load_string(text, "/x/s.toml");
  if (!c) {
    std::string why;
    for (const auto& p : c.error()) why += p.to_string() + "\n";
    FAIL("does not load:\n" << text << why);
  }
  return config::flatten(*c);
}

}  // namespace

TEST_CASE("flatten shows exactly the keys of the schema, each once") {
  auto shown = config::flatten(*config::load_string("", "/x/s.toml"));
  std::set<std::string> names;
  for (const auto& k : config::keys()) {
    INFO(k.name);
    CHECK(names.insert(k.name).second);
    CHECK(shown.count(k.name) == 1);
  }
  CHECK(names.size() == shown.size());
}

TEST_CASE("every key shows its value in flatten, and a change of any one key is that key's change alone") {
  const auto external = flattened(config_text()), managed = flattened(config_text("", "", true));
  for (const auto& k : config::keys()) {
    INFO(k.name << " (" << k.type << ")");
    const auto& base = kManagedOnly.count(k.name) ? managed : external;
    Sample s = sample_for(k, base.at(k.name));
    const auto changed = flattened(config_text(k.name, s.toml));
    CHECK(changed.at(k.name) == s.shown);
    CHECK(changed.at(k.name) != base.at(k.name));
    for (const auto& [name, value] : changed)
      if (name != k.name) CHECK(value == base.at(name));
  }
}

TEST_CASE("man/shicks.toml.5 documents every key, in its section, with the type the loader checks") {
  std::ifstream in(SHICKS_SOURCE_DIR "/man/shicks.toml.5");
  REQUIRE(in);
  // ".Ss The [smtp] section" opens a section, ".It Cm max_recipients Pq integer, 1 to 100000" a key.
  std::map<std::string, std::string> documented;
  std::string section, line;
  while (std::getline(in, line)) {
    if (line.rfind(".Ss ", 0) == 0) {
      auto open = line.find('['), close = line.find(']');
      section = open != std::string::npos && close > open ? line.substr(open + 1, close - open - 1) : "";
      continue;
    }
    if (section.empty() || line.rfind(".It Cm ", 0) != 0) continue;
    std::string rest = line.substr(7);
    auto pq = rest.find(" Pq ");
    std::string key = rest.substr(0, pq);
    documented[section + "." + key] = pq == std::string::npos ? "" : rest.substr(pq + 4);
  }
  std::set<std::string> names;
  for (const auto& k : config::keys()) {
    INFO(k.name);
    names.insert(k.name);
    REQUIRE(documented.count(k.name) == 1);
    CHECK(documented.at(k.name) == k.type);
  }
  for (const auto& [name, type] : documented) {
    INFO("documented but not a key: " << name);
    CHECK(names.count(name) == 1);
  }
}
