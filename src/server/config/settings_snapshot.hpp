#pragma once
// The runtime settings as a daemon holds them, each state labelled with the value of
// the 'settings' change counter it was read at. Every write to the `settings` table
// bumps that counter in the same transaction (store/admin_store.cpp), so a higher
// label is a newer state. A state is taken only when its label is at least the one
// held: a periodic read that began before a write committed, and ends after the
// writer has put the new value in, is older and is dropped -- a value set with
// `shicksctl config set` is never seen to go back. Equal labels are taken, so a
// table edited by hand without bumping the counter is still picked up.
// Pure code; not thread-safe (SettingsCache locks around it).
#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "server/config/runtime_settings.hpp"

namespace shicks::config {

class SettingsSnapshot {
 public:
  using Values = std::map<std::string, std::string, std::less<>>;

  // Every row of the table, read after the counter showed `version` (so the rows
  // hold at least every write up to it). Returns whether it was taken.
  bool apply(Values values, std::uint64_t version);

  std::optional<std::string> find(const std::string& name) const;

  // A setting's value, typed: the one read from the table, else its default. A value
  // that cannot be read as the key's type -- only a hand edit of the table stores one,
  // `shicksctl config set` validates -- reads as the default.
  std::string get(Setting<std::string> key) const;
  bool get(Setting<bool> key) const;
  unsigned get(Setting<unsigned> key) const;

  std::uint64_t version() const { return version_; }

 private:
  Values values_;
  std::uint64_t version_ = 0;
};

}  // namespace shicks::config
